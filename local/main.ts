import { parseArgs } from 'node:util';
import { runDemo } from './demo/run-demo.ts';
import { backgroundProcesses, StepFailed } from './demo/processes.ts';
import { startLocalStack } from './stack.ts';

const usage = `Usage: npm start -- [--port N] [--data DIR] [--assembly DIR] [--json] [--no-demo] [--auto-approve] [--exit]

Runs the whole Latchkey backend on this machine, on 127.0.0.1 only:
DynamoDB, S3, SQS, SES and Step Functions emulators, the HTTP API, and the queue consumers.
Each function runs as Lambda runs it: its own instance, only the environment the CDK app gives it,
and every AWS call checked against its IAM policy from the synthesized template (a denied call
fails with AccessDenied, and "[local IAM]" on stderr says which grant is missing).
Then a demo shows it working: an account, two key servers and a target (as child processes),
a secure application, a push, and a deployment to prod that waits for your approval.

  --port N        HTTP API port (default $PORT or 4000; the emulators take the next five; 0 = any free)
  --data DIR      keep everything in DIR across restarts: DynamoDB, Step Functions executions, release
                  objects, agent queues and the demo's people and agents (not captured mail)
  --assembly DIR  run each function with the environment and IAM policies of this cloud assembly
                  (\`cdk synth\` output, e.g. cdk.out) instead of the app synthesized for the local stack
  --json          print the endpoints as one JSON line (for scripts and tests); no demo unless --demo
  --no-demo       only the stack
  --auto-approve  the demo approves with the approver's CLI (a signed approval) instead of waiting for you
  --exit          stop everything once the demo ends (exit 0 if the deployment succeeded)
`;

// The pinned SDK supports Node 20; its notice about future releases is not news at every start.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    data: { type: 'string' },
    assembly: { type: 'string' },
    json: { type: 'boolean', default: false },
    demo: { type: 'boolean' },
    'no-demo': { type: 'boolean', default: false },
    'auto-approve': { type: 'boolean', default: false },
    exit: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}

const port = Number(values.port ?? process.env.PORT ?? 4000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`--port must be a port number, not ${values.port ?? process.env.PORT}\n\n${usage}`);
  process.exit(2);
}

const stack = await startLocalStack({
  port,
  ...(values.data ? { dataDir: values.data } : {}),
  ...(values.assembly ? { assembly: values.assembly } : {}),
  onBackgroundError: (error) => process.stderr.write(`background: ${(error as Error).message}\n`),
}).catch((error: Error) => {
  process.stderr.write(`Could not start the local stack: ${error.message}\n`);
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    process.stderr.write('A port is taken: stop the other process or choose another with --port.\n');
  }
  process.exit(1);
});

// A development server keeps serving after a bug in one request; it says so loudly instead.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}\n`);
});

const { endpoints } = stack;
if (values.json) {
  process.stdout.write(`${JSON.stringify({ endpoints, env: stack.env })}\n`);
} else {
  process.stdout.write(
    [
      'Latchkey local stack is up (127.0.0.1 only):',
      `  HTTP API        ${endpoints.api}`,
      `  DynamoDB        ${endpoints.dynamodb}`,
      `  S3 + SQS        ${endpoints.s3}`,
      `  SES             ${endpoints.ses}  (captured mail: ${endpoints.sesStore})`,
      `  Step Functions  ${endpoints.stepFunctions}`,
      `  Data            ${values.data ?? 'in memory (use --data DIR to keep it)'}`,
      '',
      'Try it:',
      `  curl -s ${endpoints.api}/health`,
      `  curl -s -X POST ${endpoints.api}/accounts -H 'content-type: application/json' \\`,
      `    -d '{"accountName":"Acme","owner":{"name":"Ada Lovelace","email":"ada@example.com"}}'`,
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

const agents = backgroundProcesses();
let stopping = false;
const stop = async (why: string, code = 0) => {
  if (stopping) return;
  stopping = true;
  if (!values.json) process.stdout.write(`\n${why}: stopping the demo agents and the local stack...\n`);
  await agents.stopAll();
  await stack.stop();
  process.exit(code);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

const demo = values['no-demo'] ? false : (values.demo ?? !values.json);
if (demo) {
  const started = Date.now();
  const say = (line: string) => process.stdout.write(`[demo ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);
  say('Starting the demo (npm start -- --no-demo skips it)');
  try {
    const outcome = await runDemo({ endpoints, ...(values.data ? { dataDir: values.data } : {}), autoApprove: values['auto-approve'], processes: agents, say });
    say(`Demo done: deployment ${outcome.deploymentId} ${outcome.state}. Its people and agents are in ${outcome.dir}; the stack keeps running.`);
    if (values.exit) await stop('demo done');
  } catch (error) {
    process.stderr.write(`\nThe demo stopped: ${(error as Error).message}\n`);
    if (error instanceof StepFailed) process.stderr.write(`What to do: ${error.hint}\n`);
    else process.stderr.write('What to do: this is a bug in the demo; the stack is still up, so try the CLI by hand (README).\n');
    if (values.exit) await stop('demo failed', 1);
  }
}
