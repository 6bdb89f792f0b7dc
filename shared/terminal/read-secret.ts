/**
 * Reads a secret (an API token, an enrolment token) without it touching argv, which `ps` and shell
 * history show: piped stdin when there is one, else a prompt on the terminal that does not echo.
 * Ctrl-C rejects with `cancelled()`. The CLI and the agent both read secrets this way.
 */
export const readSecret = async (prompt: string, cancelled: () => Error, stdin: NodeJS.ReadStream = process.stdin, stderr: NodeJS.WriteStream = process.stderr): Promise<string> => {
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks).toString('utf8').trim();
  }
  stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = '';
      const onData = (chunk: Buffer) => {
        for (const char of chunk.toString('utf8')) {
          if (char === '\r' || char === '\n' || char === '\u0004') {
            stdin.off('data', onData);
            resolve(typed.trim());
            return;
          }
          if (char === '\u0003') {
            stdin.off('data', onData);
            reject(cancelled());
            return;
          }
          if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
          else typed += char;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stderr.write('\n');
  }
};
