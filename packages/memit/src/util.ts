/** Small helpers shared by the editors. @internal */

/** Thrown by a hook to end a forward pass once the activations it needs are read. */
export class StopForward extends Error {}
