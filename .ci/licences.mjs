// The licences of the production dependency closure (what the Lambda bundles, the layer, the
// CLI and the agent can contain), from package-lock.json: lists them, and fails on any copyleft
// licence, or one it cannot tell. Dev dependencies (the local stack's AGPL IAM simulator, the
// test and build tooling) are not shipped and not counted.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Copyleft licences, strong and weak, by SPDX id (and the word itself). */
export const COPYLEFT = /\b(A?GPL|LGPL|MPL|EPL|EUPL|CDDL|CPAL|OSL|SSPL|RPL|CC-BY-SA|CC-BY-NC-SA|Sleepycat|QPL|copyleft)\b/i;

const licenceOf = (manifest) => {
  if (!manifest) return undefined;
  if (typeof manifest.license === 'string') return manifest.license;
  if (manifest.license?.type) return manifest.license.type;
  if (Array.isArray(manifest.licenses)) return manifest.licenses.map((l) => l.type ?? l).join(' OR ');
  return undefined;
};

/**
 * Every package the lock installs for production: not dev, not dev-optional. `readManifest`
 * reads a package's package.json (for locks that do not record its licence).
 */
export const productionPackages = (lock, readManifest = () => undefined) =>
  Object.entries(lock.packages ?? {})
    .filter(([where, entry]) => where.includes('node_modules/') && !entry.dev && !entry.devOptional && !entry.link)
    .map(([where, entry]) => ({
      name: entry.name ?? where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length),
      version: entry.version,
      license: entry.license ?? licenceOf(readManifest(where)) ?? 'UNKNOWN',
    }));

/** The licences found, with their packages; and what fails the check. */
export const licenceReport = (packages) => {
  const byLicence = new Map();
  for (const p of packages) byLicence.set(p.license, [...(byLicence.get(p.license) ?? []), `${p.name}@${p.version}`]);
  return {
    byLicence: [...byLicence.entries()].sort((a, b) => b[1].length - a[1].length),
    copyleft: packages.filter((p) => COPYLEFT.test(p.license)),
    unknown: packages.filter((p) => p.license === 'UNKNOWN'),
  };
};

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  const readManifest = (where) => {
    const file = path.join(root, where, 'package.json');
    return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
  };
  const packages = productionPackages(lock, readManifest);
  const report = licenceReport(packages);
  console.log(`licences of the production dependency closure (${packages.length} packages):`);
  for (const [licence, names] of report.byLicence) {
    console.log(`  ${licence.padEnd(24)} ${String(names.length).padStart(4)}  ${names.slice(0, 4).join(', ')}${names.length > 4 ? ', …' : ''}`);
  }
  for (const p of report.copyleft) console.error(`copyleft licence in production: ${p.name}@${p.version} (${p.license})`);
  for (const p of report.unknown) console.error(`no licence found for a production dependency: ${p.name}@${p.version}`);
  process.exit(report.copyleft.length + report.unknown.length > 0 ? 1 : 0);
}
