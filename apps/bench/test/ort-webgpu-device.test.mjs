import { ortDeviceFeatures } from "@ropekit/benchmarks/contenders/ort-webgpu-device";
import { describe, expect, it } from "vitest";

// SwiftShader's adapter as Chromium reports it here: subgroups of exactly 4 lanes.
const swiftshader = new Set(["subgroups", "timestamp-query", "float32-filterable", "texture-compression-bc"]);

describe("the device browser-ort-webgpu hands onnxruntime-web", () => {
  it("withholds subgroups where they can be narrower than 8 lanes, and says so", () => {
    const { features, note } = ortDeviceFeatures(swiftshader, { subgroupMinSize: 4, subgroupMaxSize: 4 });
    expect(features).toEqual(["timestamp-query"]);
    expect(note).toMatch(/subgroups withheld.*4 lanes/);
  });

  it("keeps ORT's own choice on adapters with 8 lanes or more (and when the size is not reported)", () => {
    for (const info of [{ subgroupMinSize: 8 }, { subgroupMinSize: 32 }, {}]) {
      const { features, note } = ortDeviceFeatures(new Set(["subgroups", "shader-f16"]), info);
      expect(features.sort()).toEqual(["shader-f16", "subgroups"]);
      expect(note).toBeUndefined();
    }
  });

  it("asks only for features the adapter has, and only those ORT uses", () => {
    expect(ortDeviceFeatures(new Set(["float32-filterable"]), { subgroupMinSize: 4 }).features).toEqual([]);
  });
});
