/**
 * The few pieces of ONNX's protobuf schema (onnx/onnx.proto3) that a feed-forward graph with
 * float32 / float64 / int64 initializers needs, written by hand: ModelProto, OperatorSetIdProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto(.Tensor), TensorShapeProto.
 * Output is deterministic: fields in field-number order, repeated scalars unpacked (parsers accept
 * both encodings).
 */

/** protobuf wire types */
const VARINT = 0;
const LEN = 2;
const FIXED32 = 5;

/** One serialised message: a list of byte chunks. */
export class Msg {
  private readonly parts: Buffer[] = [];

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  private varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    const bytes: number[] = [];
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) b |= 0x80;
      bytes.push(b);
    } while (x !== 0n);
    this.parts.push(Buffer.from(bytes));
  }

  int(field: number, v: number): this {
    this.tag(field, VARINT);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, FIXED32);
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.parts.push(b);
    return this;
  }

  bytes(field: number, v: Uint8Array): this {
    this.tag(field, LEN);
    this.varint(v.length);
    this.parts.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    return this;
  }

  str(field: number, v: string): this {
    return this.bytes(field, Buffer.from(v, 'utf8'));
  }

  msg(field: number, m: Msg): this {
    return this.bytes(field, m.toBuffer());
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** onnx TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;
export const ONNX_BOOL = 9;
export const ONNX_DOUBLE = 11;

/** Initializer data: float32, float64 or int64 (raw little-endian bytes). */
export type TensorData = Float32Array | Float64Array | BigInt64Array;

/** The ONNX element type of `data`, by its element size and kind (not instanceof: arrays made by the native addon may come from another realm, e.g. jest's vm). */
function elemType(data: TensorData): number {
  if (data.BYTES_PER_ELEMENT === 4) return ONNX_FLOAT;
  return Object.prototype.toString.call(data) === '[object BigInt64Array]' ? ONNX_INT64 : ONNX_DOUBLE;
}

/** TensorProto: dims(1), data_type(2), name(8), raw_data(9). */
export function tensorProto(name: string, dims: readonly number[], data: TensorData): Msg {
  const m = new Msg();
  for (const d of dims) m.int(1, d);
  m.int(2, elemType(data));
  m.str(8, name);
  m.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return m;
}

/** An attribute value: float, int, ints or a tensor. */
export type Attr = { f: number } | { i: number } | { ints: readonly number[] };

/** AttributeProto: name(1), f(2), i(3), ints(8), type(20) (FLOAT 1, INT 2, INTS 7). */
function attributeProto(name: string, a: Attr): Msg {
  const m = new Msg().str(1, name);
  if ('f' in a) return m.float(2, a.f).int(20, 1);
  if ('i' in a) return m.int(3, a.i).int(20, 2);
  for (const v of a.ints) m.int(8, v);
  return m.int(20, 7);
}

/** NodeProto: input(1), output(2), name(3), op_type(4), attribute(5). */
export function nodeProto(op: string, inputs: readonly string[], outputs: readonly string[], name: string, attrs: Record<string, Attr> = {}): Msg {
  const m = new Msg();
  for (const i of inputs) m.str(1, i);
  for (const o of outputs) m.str(2, o);
  m.str(3, name).str(4, op);
  for (const [k, v] of Object.entries(attrs)) m.msg(5, attributeProto(k, v));
  return m;
}

/** ValueInfoProto of a tensor with symbolic (string) or fixed (number) dims. */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[]): Msg {
  const shape = new Msg();
  for (const d of dims) shape.msg(1, typeof d === 'number' ? new Msg().int(1, d) : new Msg().str(2, d));
  const tensorType = new Msg().int(1, elemType).msg(2, shape);
  return new Msg().str(1, name).msg(2, new Msg().msg(1, tensorType));
}

/** GraphProto: node(1), name(2), initializer(5), input(11), output(12). */
export function graphProto(name: string, nodes: readonly Msg[], initializers: readonly Msg[], inputs: readonly Msg[], outputs: readonly Msg[]): Msg {
  const m = new Msg();
  for (const n of nodes) m.msg(1, n);
  m.str(2, name);
  for (const t of initializers) m.msg(5, t);
  for (const i of inputs) m.msg(11, i);
  for (const o of outputs) m.msg(12, o);
  return m;
}

/** ModelProto: ir_version(1), producer_name(2), producer_version(3), graph(7), opset_import(8). */
export function modelProto(graph: Msg, opset: number, irVersion = 8): Buffer {
  return new Msg()
    .int(1, irVersion)
    .str(2, 'medit')
    .str(3, '0.1.0')
    .msg(7, graph)
    .msg(8, new Msg().str(1, '').int(2, opset))
    .toBuffer();
}
