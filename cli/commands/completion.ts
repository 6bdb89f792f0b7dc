import type { Command } from 'commander';
import { bashCompletion, zshCompletion } from '../completion.ts';
import { examples } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { UsageError } from '../errors.ts';

export const registerCompletion = (program: Command, ctx: Context) => {
  examples(
    program
      .command('completion')
      .description('Print a shell completion script for bash or zsh (commands and options)')
      .argument('<shell>', 'bash or zsh')
      .action((shell: string) => {
        if (shell !== 'bash' && shell !== 'zsh') throw new UsageError(`No completion for ${JSON.stringify(shell)}: choose bash or zsh`, { field: 'shell' });
        ctx.io.stdout(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
      }),
    ['source <(latchkey completion bash)', 'latchkey completion zsh > "${fpath[1]}/_latchkey"'],
  );
};
