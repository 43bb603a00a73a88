/**
 * A small builder for ONNX graphs: nodes with generated output names, initializers added once
 * by name, typed inputs and outputs, serialised by the hand-written protobuf writer.
 */
import { ArgumentError } from '@medit/core';

import { type Attr, graphProto, modelProto, type Msg, nodeProto, ONNX_FLOAT, type TensorData, tensorProto, valueInfo } from './protobuf';

/** A symbolic (string) or fixed (number) dimension of a graph input or output. */
export type Dim = number | string;

/** The opset the exported graphs declare (LayerNormalization is in the default domain from 17). */
export const ONNX_OPSET = 17;

/** ONNX's protobuf messages are limited to 2 GiB (onnx/checker, protobuf's own limit). */
const PROTOBUF_LIMIT = 2 ** 31 - 1;

export class GraphBuilder {
  private readonly nodes: Msg[] = [];
  private readonly initializers: Msg[] = [];
  private readonly initData = new Map<string, Buffer>();
  private readonly inputs: Msg[] = [];
  private readonly outputs: Msg[] = [];
  private count = 0;
  private bytes = 0;

  /** Adds a node with one output; returns the output's name (`name`, or one made from the op type). */
  op(type: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, name?: string): string {
    const out = name ?? `${type.toLowerCase()}_${this.count}`;
    this.nodes.push(nodeProto(type, inputs, [out], `${type}_${this.count++}`, attrs));
    return out;
  }

  /** An initializer (added once: a second call with the same name and data returns the name). */
  init(name: string, dims: readonly number[], data: TensorData): string {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const known = this.initData.get(name);
    if (known) {
      if (!known.equals(bytes)) throw new ArgumentError(`GraphBuilder: initializer ${name} was already added with other values`);
      return name;
    }
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new ArgumentError(`GraphBuilder: initializer ${name} has ${data.length} values for dims [${dims}]`);
    this.initData.set(name, bytes);
    this.bytes += data.byteLength;
    this.initializers.push(tensorProto(name, dims, data));
    return name;
  }

  /** A float32 constant: a scalar, or a vector with `dims`. */
  floats(name: string, values: number | readonly number[]): string {
    return typeof values === 'number' ? this.init(name, [], Float32Array.of(values)) : this.init(name, [values.length], Float32Array.from(values));
  }

  /** An int64 constant: a scalar, or a 1-D vector (shapes, axes, starts). */
  ints(name: string, values: number | readonly number[]): string {
    return typeof values === 'number' ? this.init(name, [], BigInt64Array.of(BigInt(values))) : this.init(name, [values.length], BigInt64Array.from(values.map(BigInt)));
  }

  /** A graph input. */
  input(name: string, elemType: number, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** A graph output named `name`, the value of `from` (through an Identity node). */
  output(name: string, from: string, dims: readonly Dim[], elemType = ONNX_FLOAT): void {
    this.op('Identity', [from], {}, name);
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /**
   * Serialises the model (deterministic bytes for equal graphs).
   * @throws ArgumentError when the initializers exceed protobuf's 2 GiB message limit
   */
  toModel(graphName: string, opset: number): Buffer {
    if (this.bytes >= PROTOBUF_LIMIT) {
      throw new ArgumentError(`ONNX export: the weights take ${(this.bytes / 2 ** 30).toFixed(2)} GiB, above protobuf's 2 GiB limit for one model file (external data files are not written)`);
    }
    return modelProto(graphProto(graphName, this.nodes, this.initializers, this.inputs, this.outputs), opset);
  }
}
