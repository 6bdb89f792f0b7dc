import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { RequestRefused } from '#agent/handlers/types.ts';
import { ManifestError, parseLatchkeyYml } from '#agent/target/latchkey-yml.ts';
import { declaredVariables } from '#agent/target/script-env.ts';
import { variableNameProblem } from '#shared/protocol/script-variables.ts';
import { SEED_MANIFEST } from '../../support/deploy-release.ts';

const variableName = fc.stringMatching(/^[A-Z][A-Z0-9]{0,6}(_[A-Z0-9]{1,6}){0,2}$/).filter((name) => !variableNameProblem(name));
const value = fc.string({ maxLength: 40 });
const line = fc.string({ maxLength: 60 }).filter((l) => !l.includes('\n'));
const pattern = fc.stringMatching(/^[a-z*?][a-z0-9.*?/_-]{0,20}$/).filter((p) => !p.split('/').includes('..'));

describe('latchkey.yml', () => {
  it('reads the seeds’ manifest: Env as a list of one-entry maps, PkgInclude, PostInstall as lines', () => {
    const manifest = parseLatchkeyYml(SEED_MANIFEST);
    expect(manifest.env).toEqual({ SECRET_FILE: 'set_this_value_in_the_latchkey_env_variables', DESTINATION_FILE: '/opt/application/secret.cred' });
    expect(manifest.include).toEqual(['secret.cred.*', 'VERSION']);
    expect(manifest.postInstall?.split('\n')[0]).toBe('if [ "$SECRET_FILE" = "set_this_value_in_the_latchkey_env_variables" ]; then');
    expect(manifest.preInstall).toBeUndefined();
  });

  it('round-trips any manifest: what is written is what is read (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(variableName, value, { maxKeys: 6 }),
        fc.option(fc.array(pattern, { maxLength: 5 }), { nil: undefined }),
        fc.option(fc.array(line, { minLength: 1, maxLength: 5 }), { nil: undefined }),
        fc.option(fc.string({ maxLength: 200 }), { nil: undefined }),
        fc.boolean(),
        (env, include, postLines, install, envAsList) => {
          const document = {
            env: envAsList ? Object.entries(env).map(([k, v]) => ({ [k]: v })) : env,
            ...(include ? { include } : {}),
            ...(install !== undefined ? { install } : {}),
            ...(postLines ? { postInstall: postLines } : {}),
          };
          const parsed = parseLatchkeyYml(stringify(document));
          expect(parsed.env).toEqual(env);
          expect(parsed.include).toEqual(include);
          expect(parsed.install).toBe(install);
          expect(parsed.postInstall).toBe(postLines?.join('\n'));
        },
      ),
    );
  });

  it('the environment gives values to the variables the manifest declares, over its defaults, and to no other (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(variableName, value), fc.dictionary(variableName, value), (defaults, environment) => {
        const undeclared = Object.keys(environment).find((name) => !(name in defaults));
        if (undeclared) {
          expect(() => declaredVariables({ env: defaults }, environment)).toThrow(
            expect.objectContaining({ code: 'VariableRefused', message: expect.stringContaining(`the environment sets ${undeclared}, which the release's latchkey.yml does not declare`) }),
          );
          return;
        }
        const merged = declaredVariables({ env: defaults }, environment);
        expect(Object.keys(merged).sort()).toEqual(Object.keys(defaults).sort());
        for (const [k, v] of Object.entries(environment)) expect(merged[k]).toBe(v);
        for (const [k, v] of Object.entries(defaults)) if (!(k in environment)) expect(merged[k]).toBe(v);
      }),
    );
    expect(() => declaredVariables({ env: {} }, { EXTRA_SETTING: 'x' })).toThrow(RequestRefused);
  });

  it('refuses anything else with a ManifestError naming the field, never another error (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parseLatchkeyYml(text);
        } catch (error) {
          expect(error).toBeInstanceOf(ManifestError);
        }
      }),
    );
  });

  it.each([
    ['include: ["../etc/passwd"]', /include\.0 must be a relative path without \.\./],
    ['include: ["/etc/passwd"]', /include\.0 must be a relative path/],
    ['env: { "1BAD": x }', /env\.1BAD "1BAD" is not a script variable name/],
    ['env: { NODE_OPTIONS: "" }', /env\.NODE_OPTIONS NODE_OPTIONS is reserved: programs read it/],
    ['Env: [{ PATH: /opt/bin }]', /env\.0\.PATH PATH is reserved/],
    ['env: { http_proxy: x }', /is not a script variable name/],
    ['postInstall: { run: x }', /postInstall/],
    ['unknown: 1', /unrecognized|Unrecognized/],
    ['env: [{ A: 1, B: 2 }]', /one variable/],
    ['a: [unclosed', /not valid YAML/],
  ])('refuses %s', (text, message) => {
    expect(() => parseLatchkeyYml(text)).toThrow(message);
  });

  it('an empty file is an empty manifest', () => {
    expect(parseLatchkeyYml('')).toEqual({ env: {} });
  });
});
