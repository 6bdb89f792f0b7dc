import type { PageScript } from '#shared/domain/deployments/approval-page.ts';
import { webAssets } from './assets.generated.ts';

/** A script of ours as a page at `/<kind>/<secret>` names it: relative (works under any API base path), with its integrity hash. */
export const pageScript = (name: string): PageScript => {
  const asset = webAssets[name];
  if (!asset) throw new Error(`No web asset ${name}: run npm run build:web`);
  return { src: `../assets/${name}`, integrity: asset.integrity };
};
