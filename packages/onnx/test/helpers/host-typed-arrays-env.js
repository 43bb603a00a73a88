'use strict';
/**
 * Jest's node environment with the host realm's typed-array constructors: onnxruntime-node's
 * native binding builds its output arrays in the host realm and checks them with `instanceof`
 * against the (sandboxed) test realm's constructors, which fails under jest's vm sandbox
 * ("A float32 tensor's data must be type of function Float32Array()").
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = ['ArrayBuffer', 'Float32Array', 'Float64Array', 'Int8Array', 'Uint8Array', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array'];

class HostTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = HostTypedArraysEnvironment;
