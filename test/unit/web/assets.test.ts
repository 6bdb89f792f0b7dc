import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { bundleWebAssets, generatedModule, GENERATED } from '../../../web/build.ts';

describe('the web assets the API serves', () => {
  it('are the bundles of web/scripts as they are now (run `npm run build:web` after changing them)', async () => {
    const assets = await bundleWebAssets();
    expect(Object.keys(assets).length).toBeGreaterThan(0);
    expect(await readFile(GENERATED, 'utf8')).toBe(generatedModule(assets));
  });

  it('carry nothing that loads from elsewhere or evaluates strings', async () => {
    for (const [name, body] of Object.entries(await bundleWebAssets())) {
      // (A documentation URL inside an error message is text, not a load.)
      expect(body, name).not.toMatch(/\beval\(|new Function\(|(fetch|import|importScripts)\(\s*["'`]https?:|from\s*["']https?:/);
    }
  });
});
