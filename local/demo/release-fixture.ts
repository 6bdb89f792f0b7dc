import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const DEMO_ENVIRONMENTS = ['dev', 'stage', 'prod'] as const;

/**
 * The seeds' secure-package example: one release holding every environment's secret, and a
 * manifest whose install script keeps only the secret of the environment it lands in.
 * The secrets are made up here, for the demo only.
 */
export const writeDemoRelease = async (dir: string) => {
  await mkdir(dir, { recursive: true });
  for (const env of DEMO_ENVIRONMENTS) {
    await writeFile(path.join(dir, `secret.cred.${env}`), `demo ${env} credential, made by the Latchkey demo\n`, { mode: 0o600 });
  }
  await writeFile(path.join(dir, 'index.html'), '<h1>Hello from the Latchkey demo</h1>\n');
  await writeFile(
    path.join(dir, 'latchkey.yml'),
    [
      'include:',
      '  - index.html',
      '  - secret.cred.*',
      'env:',
      '  SECRET_FILE: set-this-in-the-environment',
      '  DESTINATION_FILE: secret.cred',
      'postInstall: |',
      '  if [ "$SECRET_FILE" = "set-this-in-the-environment" ]; then',
      '    echo "Set SECRET_FILE in the environment (latchkey envs set ENV --var SECRET_FILE=...)" >&2',
      '    rm -f secret.cred.*',
      '    exit 1',
      '  fi',
      '  mv -f "$SECRET_FILE" "$DESTINATION_FILE"',
      '  rm -f secret.cred.*',
      '  chmod 600 "$DESTINATION_FILE"',
      '  echo "installed $DESTINATION_FILE"',
      '',
    ].join('\n'),
  );
};
