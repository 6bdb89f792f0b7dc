import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { build } from 'esbuild';
import { esbuildOptions } from './cdk/bundling.ts';
import { buildDependenciesLayer } from './layers/dependencies/build.ts';
import { functions, type FunctionName } from './functions/catalog.ts';
import { boundEnvironment } from './bench/support/function-env.ts';
const LAYER = '/tmp/cs-layer';
if (!process.env.SKIP_LAYER) buildDependenciesLayer({ outDir: LAYER });
const names = (process.env.FNS ?? 'health,get-me,create-user,create-deployment,seal-release,dispatch-deploy,approval-page,consume-agent-replies,create-release').split(',') as FunctionName[];
for (const name of names) {
  const outfile = path.join(LAYER, 'nodejs', 'functions', name, 'index.mjs');
  await build({ ...esbuildOptions({ entry: functions[name].entry, outfile, withLayer: true }), logLevel: 'error' });
  const times: string[] = [];
  for (let i = 0; i < 5; i++) {
    const out = execFileSync(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', `const t=performance.now();const c=process.cpuUsage();await import(${JSON.stringify(outfile)});const u=process.cpuUsage(c);process.stdout.write((performance.now()-t).toFixed(0)+'/'+((u.user+u.system)/1000).toFixed(0))`], { env: { PATH: process.env.PATH, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...boundEnvironment(functions[name]) } }).toString();
    times.push(out);
  }
  console.log(name.padEnd(24), times.join(' '));
}
