/**
 * How a TypeScript service author writes against tensorjit: this file must type-check
 * under the package's strict settings (types.test.ts runs tsc on it). It is never run.
 */
import * as tj from '../../lib/index';

class Mlp extends tj.nn.Module {
  fc1 = new tj.nn.Linear(16, 32);
  fc2 = new tj.nn.Linear(32, 4);
  override forward(x: tj.Tensor): tj.Tensor {
    return this.fc2.forward(tj.relu(this.fc1.forward(x)));
  }
}

export async function usage(): Promise<void> {
  const x = tj.randn([8, 16]);
  // compile: functions and modules, typed parameters and results
  const f = tj.compile((a: tj.Tensor, b: tj.Tensor) => tj.softmax(tj.add(a, b), -1));
  const y: tj.Tensor = f(x, x);
  const z: tj.Tensor = await f.runAsync(x, x);
  const model = tj.compile(new Mlp().eval());
  const out: tj.Tensor = model.forward(x);
  const outAsync: tj.Tensor = await model.runAsync(x);
  tj.compile((a: tj.Tensor) => a, { backend: 'eager', fullgraph: true, dynamic: false, mode: 'reduce-overhead' });
  // the fine-grained API with typed functions
  const logged = tj.compiler.disable((t: tj.Tensor) => t.sum());
  const inGraph = tj.compiler.allowInGraph((t: tj.Tensor) => tj.mul(t, 2));
  const g = tj.compile((t: tj.Tensor) => inGraph(logged(t)));
  g(x);
  const compiling: boolean = tj.compiler.isCompiling() || tj.compiler.isDynamoCompiling();
  void compiling;
  tj.compiler.markDynamic(x, 0);
  // export: a typed function or a module, dynamic dims, save and load
  const ep = tj.exportProgram((a: tj.Tensor) => tj.softmax(a, -1), [x], { dynamicShapes: [{ 0: 'batch' }] });
  const ep2 = tj.exportProgram(new Mlp().eval(), [x]);
  await ep.save('/tmp/never-written.safetensors');
  const loaded = await tj.loadProgram('/tmp/never-written.safetensors');
  const r: tj.Tensor = loaded.run(x);
  const r2: tj.Tensor = await ep2.runAsync(x);
  // tensors and memory
  const values: Float32Array = x.dataSync() as Float32Array;
  const kept = tj.tidy(() => tj.add(y, z));
  void [out, outAsync, r, r2, values, kept];
}
