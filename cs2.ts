import { build } from 'esbuild';
import { esbuildOptions } from './cdk/bundling.ts';
import { functions, type FunctionName } from './functions/catalog.ts';
for (const name of (process.env.FNS ?? 'get-me,seal-release,dispatch-deploy').split(',') as FunctionName[]) {
  const r = await build({ ...esbuildOptions({ entry: functions[name].entry, outfile: `/tmp/cs2/${name}.mjs`, withLayer: true }), minify: false, logLevel: 'error' });
  const out = Object.values(r.metafile!.outputs).find((o) => o.entryPoint)!;
  const top = Object.entries(out.inputs).sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput).slice(0, 12).map(([f, v]) => `${f.replace(/^.*node_modules\//, 'nm:')} ${v.bytesInOutput}`);
  console.log(name, out.bytes, '\n  ' + top.join('\n  '), '\n imports:', out.imports.filter((i) => i.external).map((i) => i.path).join(' '));
}
