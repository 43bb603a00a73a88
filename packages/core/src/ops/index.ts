export * from './elementwise';
export * from './layout';
export * from './linalg';
export * from './nn';
export * from './loss';
export * from './reduce';
export * from './finite';
