import { type KyselyPlugin, PostgresQueryCompiler, type PluginTransformQueryArgs, type PluginTransformResultArgs, type QueryResult, type RootOperationNode, type UnknownRow } from 'kysely';
import type { Database } from '../../service/shared/db';

/**
 * The database with the SQL of every statement recorded (whitespace collapsed), read by a Kysely
 * plugin on the way to the database: what a suite counts when a round trip is the cost (issue 15).
 */
export function recorded(db: Database): { db: Database; statements: string[] } {
  const statements: string[] = [];
  const compiler = new PostgresQueryCompiler();
  const plugin: KyselyPlugin = {
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      statements.push(compiler.compileQuery(args.node, args.queryId).sql.replace(/\s+/g, ' ').trim());
      return args.node;
    },
    transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return Promise.resolve(args.result);
    },
  };
  return { db: db.withPlugin(plugin), statements };
}
