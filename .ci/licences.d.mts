// Types of licences.mjs, for the unit test that imports it.
export type ProductionPackage = { name: string; version: string; license: string };
export declare const COPYLEFT: RegExp;
export declare const productionPackages: (
  lock: { packages?: Record<string, { name?: string; version?: string; license?: string; dev?: boolean; devOptional?: boolean; link?: boolean }> },
  readManifest?: (where: string) => { license?: unknown; licenses?: unknown } | undefined,
) => ProductionPackage[];
export declare const licenceReport: (packages: ProductionPackage[]) => {
  byLicence: [string, string[]][];
  copyleft: ProductionPackage[];
  unknown: ProductionPackage[];
};
