import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Metafile } from 'esbuild';

/** The name of the notices file beside each bundle (and the deb's copyright file). */
export const NOTICES_FILE = 'THIRD-PARTY-NOTICES.txt';

/** The installed package directories a bundle took code from (`…/node_modules/<name>` or `…/@scope/name`), absolute, by name. */
const bundledPackages = (root: string, metafile: Metafile): string[] => {
  const dirs = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    // An input a plugin made is named `namespace:path` (bundle.ts's zod locales): the path counts.
    const match = /^(?:[a-z-]+:)?(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) dirs.add(path.resolve(root, match[1]!));
  }
  const name = (dir: string) => dir.slice(dir.lastIndexOf('node_modules/') + 'node_modules/'.length);
  return [...dirs].sort((a, b) => name(a).localeCompare(name(b)) || a.localeCompare(b));
};

/**
 * The licences of everything a bundle carries: bundling copies their code into one file, and
 * their licences (MIT, ISC, Apache-2.0, BSD…) ask that the copyright and licence text travel with
 * it. For each package: its name, version and licence, then its own licence file, verbatim.
 */
export const thirdPartyNotices = async (root: string, metafile: Metafile, product: string): Promise<string> => {
  const sections: string[] = [];
  for (const full of bundledPackages(root, metafile)) {
    const manifest = JSON.parse(await readFile(path.join(full, 'package.json'), 'utf8')) as { name: string; version: string; license?: string };
    const licenceFile = (await readdir(full)).find((file) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(file));
    const text = licenceFile ? (await readFile(path.join(full, licenceFile), 'utf8')).trim() : `(the package ships no licence file; its package.json says: ${manifest.license ?? 'nothing'})`;
    sections.push(`${manifest.name} ${manifest.version} (${manifest.license ?? 'licence not stated'})\n\n${text}`);
  }
  const rule = `\n\n${'-'.repeat(78)}\n\n`;
  return `${product} bundles the following packages, under their own licences.${rule}${sections.join(rule)}\n`;
};
