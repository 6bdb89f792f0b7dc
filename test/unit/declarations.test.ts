import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { routes } from '#functions/api/routes.ts';
import { functions } from '#functions/catalog.ts';
import { PARTITION_SUBSTITUTION, queues, stateMachines } from '#functions/resources.ts';

const root = path.resolve(import.meta.dirname, '../..');

describe('the shared declarations that drive both CDK and the local stack', () => {
  it('every function entry exists and exports a handler', async () => {
    for (const [name, fn] of Object.entries(functions)) {
      expect(existsSync(path.join(root, fn.entry)), `${name}: ${fn.entry}`).toBe(true);
      expect(readFileSync(path.join(root, fn.entry), 'utf8')).toMatch(/export const handler\b/);
    }
  });

  it('routes are unique and point at catalog functions', () => {
    const keys = routes.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const route of routes) expect(functions).toHaveProperty(route.function);
  });

  it('queue consumers are catalog functions', () => {
    for (const queue of Object.values(queues)) expect(functions).toHaveProperty(queue.consumer);
  });

  it('each state machine substitutes exactly the placeholders its ASL file uses', () => {
    for (const machine of Object.values(stateMachines)) {
      const asl = readFileSync(path.join(root, machine.definitionFile), 'utf8');
      const used = new Set([...asl.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]));
      expect(used).toEqual(new Set([...Object.keys(machine.functionSubstitutions), PARTITION_SUBSTITUTION]));
      for (const fn of Object.values(machine.functionSubstitutions)) expect(functions).toHaveProperty(fn);
    }
  });
});
