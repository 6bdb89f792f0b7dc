import { parseArgs } from 'node:util';
import { startLocalStack } from './stack.ts';

const usage = `Usage: npm start -- [--port N] [--data DIR] [--json]

Runs the whole Latchkey backend on this machine, on 127.0.0.1 only:
DynamoDB, S3, SQS, SES and Step Functions emulators, the HTTP API, and the queue consumers.

  --port N     HTTP API port (default $PORT or 4000; the emulators take the next four; 0 = any free)
  --data DIR   keep DynamoDB data in DIR across restarts (default: in memory)
  --json       print the endpoints as one JSON line (for scripts and tests)
`;

// The pinned SDK supports Node 20; its notice about future releases is not news at every start.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    data: { type: 'string' },
    json: { type: 'boolean', default: false },
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

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  if (!values.json) process.stdout.write(`\n${signal}: stopping the local stack...\n`);
  await stack.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
