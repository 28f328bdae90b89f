// Op family 'attention': declared with defineOp (see registry.ts). Filled in by its owner.
export {};
