import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { refuseReservedVariables } from '#agent/target/script-env.ts';
import { variableNameProblem, VARIABLE_SHAPE } from '#shared/protocol/script-variables.ts';
import { variablesInput } from '#shared/protocol/directory.ts';

describe('script variable names (DESIGN §6)', () => {
  it.each(['SECRET_FILE', 'DESTINATION_FILE', 'GREETING', 'API_URL', 'REGION', 'PORT', 'APP_PATH', 'DB2_HOST'])('%s may be a script variable', (name) => {
    expect(variableNameProblem(name)).toBeUndefined();
  });

  it.each([
    // The names of the issue, and the like: each changes how some program loads code, or where a shell finds it.
    'NODE_OPTIONS', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'BASH_ENV', 'ENV', 'PATH', 'IFS', 'PS4', 'SHELLOPTS', 'BASHOPTS', 'CDPATH',
    'PYTHONPATH', 'PYTHONSTARTUP', 'PYTHONHOME', 'PERL5OPT', 'PERL5LIB', 'PERLLIB', 'RUBYOPT', 'RUBYLIB', 'GIT_SSH_COMMAND', 'GIT_CONFIG_GLOBAL',
    'JAVA_TOOL_OPTIONS', 'JDK_JAVA_OPTIONS', 'NPM_CONFIG_SCRIPT_SHELL', 'GCONV_PATH', 'DYLD_INSERT_LIBRARIES', 'PHPRC', 'LUA_INIT', 'OPENSSL_CONF',
    'HTTPS_PROXY', 'DOTNET_STARTUP_HOOKS', 'XDG_CONFIG_HOME', 'HOME', 'TMPDIR', 'LATCHKEY_RELEASE_DIR', 'EDITOR', 'CLASSPATH',
  ])('%s is reserved', (name) => {
    expect(variableNameProblem(name)).toMatch(/^is reserved: programs read it/);
  });

  it.each(['http_proxy', 'npm_config_script_shell', '_JAVA_OPTIONS', 'MALLOC_CHECK_', 'A__B', 'Path', '1ST', '', 'X'.repeat(65), 'A-B', 'A B'])('%j has not the allowed shape', (name) => {
    expect(variableNameProblem(name)).toMatch(/^is not a script variable name/);
  });

  it('an allowed name is upper-case words of letters and digits joined by single underscores (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (name) => {
        if (!variableNameProblem(name)) expect(VARIABLE_SHAPE.test(name) && name.length <= 64).toBe(true);
      }),
    );
  });

  it('the API input names the refused variable as the field, with why', () => {
    const parsed = variablesInput.safeParse({ SECRET_FILE: 'a', NODE_OPTIONS: '--require /tmp/x.js' });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]).toMatchObject({ path: ['NODE_OPTIONS'], message: expect.stringMatching(/^NODE_OPTIONS is reserved/) });
  });

  it('the agent refuses a reserved name, naming it, before anything else happens', () => {
    expect(() => refuseReservedVariables({ SECRET_FILE: 'a', LD_PRELOAD: '/tmp/x.so' })).toThrow(
      expect.objectContaining({ code: 'VariableRefused', message: expect.stringMatching(/^the environment sets LD_PRELOAD, which is reserved: .*; nothing was installed$/) }),
    );
    expect(() => refuseReservedVariables({ SECRET_FILE: 'a' })).not.toThrow();
  });
});
