// Builds small ONNX models in JS for the onnxruntime peers: the needed part of onnx.proto, declared
// for protobufjs (field numbers as in onnx/onnx.proto).
import protobuf from "protobufjs";

const root = protobuf.parse(
  `
syntax = "proto2";
package onnx;
message OperatorSetIdProto { optional string domain = 1; optional int64 version = 2; }
message TensorShapeProto { message Dimension { optional int64 dim_value = 1; optional string dim_param = 2; } repeated Dimension dim = 1; }
message TypeProto { message Tensor { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; } optional Tensor tensor_type = 1; }
message ValueInfoProto { optional string name = 1; optional TypeProto type = 2; }
message TensorProto { repeated int64 dims = 1; optional int32 data_type = 2; repeated float float_data = 4 [packed = true]; optional string name = 8; }
message AttributeProto { optional string name = 1; optional float f = 2; optional int64 i = 3; optional int32 type = 20; }
message NodeProto { repeated string input = 1; repeated string output = 2; optional string name = 3; optional string op_type = 4; repeated AttributeProto attribute = 5; optional string domain = 7; }
message GraphProto { repeated NodeProto node = 1; optional string name = 2; repeated TensorProto initializer = 5; repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12; }
message ModelProto { optional int64 ir_version = 1; optional string producer_name = 2; optional GraphProto graph = 7; repeated OperatorSetIdProto opset_import = 8; }
`,
  { keepCase: true },
).root;
const Model = root.lookupType("onnx.ModelProto");
/** ONNX TensorProto.DataType of each element type the peers feed (onnx.proto's numbering). */
export const ELEM_TYPE = { float32: 1, int64: 7, int32: 6, float16: 10 };

/** A tensor input/output description: float32 unless `type` names another of ELEM_TYPE. */
export const value = (name, dims, type = "float32") => ({
  name,
  type: {
    tensor_type: {
      elem_type: ELEM_TYPE[type],
      shape: { dim: dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })) },
    },
  },
});
/** Integer and float attributes. */
export const intAttr = (name, i) => ({ name, i, type: 2 });
export const floatAttr = (name, f) => ({ name, f, type: 1 });

/** Serialises a model with the given nodes, inputs and outputs (opset 17 + com.microsoft 1). */
export function onnxModel({ nodes, inputs, outputs, initializers = [] }) {
  const message = Model.create({
    ir_version: 8,
    producer_name: "ropekit-benchmarks",
    opset_import: [
      { domain: "", version: 17 },
      { domain: "com.microsoft", version: 1 },
    ],
    graph: { name: "g", node: nodes, input: inputs, output: outputs, initializer: initializers },
  });
  return Model.encode(message).finish();
}
