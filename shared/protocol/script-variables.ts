import { z } from 'zod';

/**
 * Which names a release's scripts may be given as variables (DESIGN §6, agent isolation). A
 * variable's value comes from the environment's configuration, which the backend keeps: a name
 * that some program reads to decide what code to load, which shell options to take or where to
 * find commands (NODE_OPTIONS, LD_PRELOAD, BASH_ENV, PATH, PYTHONPATH, GIT_SSH_COMMAND, …) would
 * let whoever writes that configuration run code on the agent's machine. So a name must have the
 * one shape below (an allowlist), and its first word must not be one that programs claim for
 * their own settings, nor may it be one of the names shells and loaders read (the reserved lists).
 * The API refuses such names when an environment is created or changed, a release cannot declare
 * them in its latchkey.yml, and the agent refuses a deployment that sets one anyway.
 */

/**
 * The allowed shape: upper-case words of letters and digits joined by single underscores, at most
 * 64 characters. It leaves out, among others, every lower-case name (`http_proxy`,
 * `npm_config_*`) and names that start or end with `_` (`_JAVA_OPTIONS`, `MALLOC_CHECK_`).
 */
export const VARIABLE_SHAPE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;
const MAX_LENGTH = 64;

/** First words that programs claim for their own settings; `*` also covers longer words (`PERL5LIB`). */
const RESERVED_FIRST_WORDS = [
  'LATCHKEY', // the agent's own facts (LATCHKEY_RELEASE_DIR, …)
  'LD', 'DYLD', 'GCONV', 'GLIBC', 'MALLOC', 'LC', 'LOCALE',
  'BASH', 'ZSH', 'KSH', 'SH', 'SHELL', 'PS*',
  'NODE', 'NPM', 'NPX', 'YARN', 'PNPM', 'COREPACK', 'BUN', 'DENO',
  'PYTHON*', 'PIP', 'VIRTUAL', 'CONDA', 'PERL*', 'RUBY*', 'GEM', 'BUNDLE', 'PHP*', 'COMPOSER', 'LUA*', 'TCL*', 'R',
  'JAVA', 'JDK', 'JRE', 'MAVEN', 'GRADLE', 'DOTNET', 'CORECLR', 'COMPLUS', 'GO', 'CARGO', 'RUST*',
  'GIT', 'SSH', 'GPG', 'GNUPG', 'SUDO', 'SYSTEMD', 'DBUS', 'XDG',
  'OPENSSL', 'SSL', 'CURL', 'WGET', 'HTTP', 'HTTPS', 'FTP', 'ALL', 'NO',
  'AWS', 'DOCKER', 'KUBE*', 'HELM',
];

/** Whole names that shells, loaders and common tools read. */
const RESERVED_NAMES = new Set([
  'PATH', 'ENV', 'IFS', 'HOME', 'USER', 'LOGNAME', 'MAIL', 'MAILPATH', 'TERM', 'TERMINFO', 'TMPDIR', 'TZ', 'TZDIR',
  'LANG', 'LANGUAGE', 'LOCPATH', 'NLSPATH', 'CDPATH', 'FPATH', 'MANPATH', 'CLASSPATH', 'GLOBIGNORE', 'PROMPT_COMMAND',
  'SHELLOPTS', 'BASHOPTS', 'POSIXLY_CORRECT', 'INPUTRC', 'HOSTALIASES', 'LOCALDOMAIN', 'RES_OPTIONS',
  'EDITOR', 'VISUAL', 'PAGER', 'BROWSER', 'DISPLAY', 'XAUTHORITY', 'ZDOTDIR', 'KUBECONFIG',
  'GOPATH', 'GOROOT', 'GOFLAGS', 'GOPROXY', 'GOTOOLCHAIN',
]);

const reservedFirstWord = (word: string) =>
  RESERVED_FIRST_WORDS.some((reserved) => (reserved.endsWith('*') ? word.startsWith(reserved.slice(0, -1)) : word === reserved));

/**
 * Why `name` cannot be a script variable, to follow the name in a message ("NODE_OPTIONS is
 * reserved: …"), or undefined when it can be one.
 */
export const variableNameProblem = (name: string): string | undefined => {
  if (name.length > MAX_LENGTH || !VARIABLE_SHAPE.test(name)) {
    return `is not a script variable name: upper-case letters and digits in words joined by single underscores, at most ${MAX_LENGTH} characters (like SECRET_FILE)`;
  }
  if (RESERVED_NAMES.has(name) || reservedFirstWord(name.split('_')[0]!)) {
    return 'is reserved: programs read it to decide what code to load, how a shell behaves or where commands are, so no script variable may have that name';
  }
  return undefined;
};

/** A name as a message shows it: quoted when it is not a plain one, and never very long. */
export const shownName = (name: string) => (VARIABLE_SHAPE.test(name) && name.length <= MAX_LENGTH ? name : JSON.stringify(name.slice(0, MAX_LENGTH)));

/** A record whose keys must all be allowed names; each refused key is an issue at its own path. */
export const scriptVariables = <V extends z.ZodType>(value: V) =>
  z.record(z.string(), value).superRefine((variables, ctx) => {
    for (const name of Object.keys(variables)) {
      const problem = variableNameProblem(name);
      if (problem) ctx.addIssue({ code: 'custom', path: [name], message: `${shownName(name)} ${problem}` });
    }
  });
