import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.cdk/', 'layers/dependencies/build/', 'bench/data/', 'test/artifacts/', 'functions/web/assets.generated.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      // shared/ is used by the agent and the CLI too: no AWS SDK there (DESIGN §2).
    },
  },
  {
    // Plain Node scripts (CI).
    files: ['**/*.mjs'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
  },
  {
    // The IAM simulator is AGPL: the local stack and tests may use it, nothing that ships may.
    files: ['functions/**/*.ts', 'shared/**/*.ts', 'cli/**/*.ts', 'agent/**/*.ts', 'cdk/**/*.ts', 'layers/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@cloud-copilot/*'], message: 'AGPL: only local/iam and tests may use the IAM simulator.' }] }],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@aws-sdk/*', 'aws-cdk-lib', 'aws-cdk-lib/*'], message: 'shared/ must not depend on AWS: use a port.' },
            { group: ['@cloud-copilot/*'], message: 'AGPL: only local/iam and tests may use the IAM simulator.' },
          ],
        },
      ],
    },
  },
  {
    // CI scripts are plain Node ES modules.
    files: ['.ci/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
