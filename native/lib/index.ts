export { loadBinding } from './loader';
export type {
  NativeBinding,
  NativeHandle,
  NativeCancelToken,
  NativeTypedArray,
  BuildInfo,
  NativeMemory,
  SafetensorsEntryInfo,
  SafetensorsHeaderInfo,
} from './binding';
export * from './kernel-names';
