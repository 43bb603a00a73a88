/**
 * @medit/onnx — medit's models as ONNX graphs (opset 17, standard ops, a hand-written protobuf
 * writer): decoders with and without past key/values, BERT encoders; run by onnxruntime.
 */
export { decoderToOnnx } from './decoder';
export type { DecoderOnnxOptions } from './decoder';
export { bertToOnnx } from './bert';
export { exportDecoderOnnx, exportEncoderOnnx, DECODER_FILES, ENCODER_FILE } from './export';
export { GraphBuilder, ONNX_OPSET } from './graph';
export type { Dim } from './graph';
export { Msg, tensorProto, nodeProto, valueInfo, graphProto, modelProto, ONNX_FLOAT, ONNX_INT64, ONNX_BOOL, ONNX_DOUBLE } from './protobuf';
export type { Attr, TensorData } from './protobuf';
