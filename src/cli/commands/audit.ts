import type { Command } from 'commander';
import { parseHead } from '../../access/audit-trail';
import { CommandFailure, print, printJson, withApp } from '../context';

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the hash-chained audit trail');

  audit
    .command('verify')
    .description('recompute every hash and link of the audit trail; exit 1 and say where if any entry was edited, removed or inserted')
    .option('--expect <seq:hash>', 'an entry noted earlier (from a previous verify, or an audit.appended log line): also finds entries cut from the end')
    .option('--json', 'print as JSON')
    .action(async (options: { expect?: string; json?: boolean }) => {
      let expect: { seq: number; hash: string } | undefined;
      try {
        expect = options.expect ? parseHead(options.expect) : undefined;
      } catch (error) {
        throw new CommandFailure(`--expect: ${(error as Error).message}`, 2);
      }
      await withApp(async (app) => {
        const result = await app.access.audit.verify(expect);
        if (options.json) printJson(result);
        else {
          print(`${result.entries} audit entries; head ${result.head ? `${result.head.seq}:${result.head.hash}` : '(empty)'}`);
          if (result.ok) print('the chain is intact. Note the head above: a later "audit verify --expect <head>" also shows entries cut from the end.');
          for (const found of result.breaks) print(`  BROKEN at entry ${found.seq} (${found.problem}): ${found.message}`);
        }
        if (!result.ok) throw new CommandFailure(`the audit trail is broken at entry ${result.breaks[0]!.seq}`);
      });
    });
}
