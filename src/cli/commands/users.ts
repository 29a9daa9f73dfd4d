import type { Command } from 'commander';
import { isRole, ROLES } from '../../access/roles';
import { CommandFailure, print, printJson, withApp } from '../context';
import { operatorName } from '../operator';
import { readPassphrase } from '../passphrase';

export function registerUsers(program: Command): void {
  const users = program.command('users').description('people who may sign in, and their roles');

  users
    .command('add')
    .description('add a user (the first admin is made this way); the password comes from standard input when it is a pipe, else is asked for twice')
    .argument('<username>', 'lower-case letters, digits, dot, dash, underscore')
    .requiredOption('--role <role>', ROLES.join(' | '))
    .option('--extension <extension>', 'the phone extension of a staff member: calls on it are theirs')
    .action(async (username: string, options: { role: string; extension?: string }) => {
      if (!isRole(options.role)) throw new CommandFailure(`--role must be one of ${ROLES.join(', ')}`, 2);
      const password = await readPassphrase({ prompt: `Password for ${username}: `, confirm: true });
      await withApp(async (app) => {
        const user = await app.access.users.add({ username, role: options.role, extension: options.extension, password }, operatorName());
        print(`added ${user.username} (${user.role}${user.extension ? `, extension ${user.extension}` : ''})`);
      });
    });

  users
    .command('disable')
    .description('stop a user signing in and end their sessions at once')
    .argument('<username>')
    .action(async (username: string) => {
      await withApp(async (app) => {
        const { sessionsEnded } = await app.access.users.disable(username, operatorName());
        print(`disabled ${username}; ${sessionsEnded} session(s) ended`);
      });
    });

  users
    .command('passwd')
    .description('set a new password (from standard input when it is a pipe); ends the user\'s sessions and any lockout')
    .argument('<username>')
    .action(async (username: string) => {
      const password = await readPassphrase({ prompt: `New password for ${username}: `, confirm: true });
      await withApp(async (app) => {
        const { sessionsEnded } = await app.access.users.setPassword(username, password, operatorName());
        print(`password changed for ${username}; ${sessionsEnded} session(s) ended`);
      });
    });

  users
    .command('list')
    .description('list users, their roles and whether they are disabled or locked')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }) => {
      await withApp(async (app) => {
        const list = await app.access.users.list();
        if (options.json) {
          printJson(list);
          return;
        }
        const now = app.clock.now();
        for (const user of list) {
          const state = user.disabled ? 'disabled' : user.lockedUntil && user.lockedUntil > now ? `locked until ${user.lockedUntil.toISOString()}` : 'active';
          print(`${user.username.padEnd(24)} ${user.role.padEnd(8)} ${(user.extension ?? '-').padEnd(8)} ${state}`);
        }
      });
    });
}
