import { Harness } from './harness.js';
import type { HarnessOptions } from './harness.js';
import { MessageType } from '../../src/raft/types.js';
import type { ReadOnlyOption } from '../../src/raft/types.js';

/**
 * Scripted protocol scenarios, in the style of etcd-io/raft's datadriven
 * tests. A script is a sequence of blocks:
 *
 *   # comments explain the step
 *   command arg ...
 *   ----
 *   expected output (possibly empty)
 *   <blank line>
 *
 * `runScript` executes the commands and returns the script with the actual
 * outputs; the test compares it with the file (KEEL_REWRITE=1 rewrites it).
 */
export interface Block {
  readonly comments: string[];
  readonly command: string;
  readonly expected: string;
}

export function parseScript(text: string): Block[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const blocks: Block[] = [];
  let comments: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#')) {
      comments.push(line);
      continue;
    }
    if (line.trim() === '') continue;
    if (lines[i + 1] !== '----') throw new Error(`line ${i + 2}: expected ---- after command "${line}"`);
    const output: string[] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j] !== ''; j++) output.push(lines[j]!);
    blocks.push({ comments, command: line, expected: output.join('\n') });
    comments = [];
    i = j;
  }
  return blocks;
}

export function formatScript(blocks: readonly { comments: string[]; command: string; expected: string }[]): string {
  return blocks
    .map((block) => [...block.comments, block.command, '----', ...(block.expected ? [block.expected] : [])].join('\n'))
    .join('\n\n') + '\n';
}

export function runScript(blocks: readonly Block[]): { comments: string[]; command: string; expected: string }[] {
  let harness: Harness | undefined;
  const need = (): Harness => {
    if (!harness) throw new Error('no cluster: start the script with "cluster ..."');
    return harness;
  };
  return blocks.map((block) => {
    const [name, ...args] = block.command.trim().split(/\s+/);
    let output = '';
    switch (name) {
      case 'cluster': {
        const ids = args.filter((arg) => !arg.includes('='));
        harness = new Harness(ids, parseOptions(args.filter((arg) => arg.includes('='))));
        output = 'ok';
        break;
      }
      case 'campaign':
        need().node(args[0]!).raw.campaign();
        break;
      case 'stabilize':
        need().stabilize();
        break;
      case 'tick':
        need().tick(args[0]!, Number(args[1] ?? 1));
        break;
      case 'tick-all':
        need().tickAll(Number(args[0] ?? 1));
        break;
      case 'propose':
        output = need().propose(args[0]!, args.slice(1).join(' '));
        break;
      case 'partition':
        need().partition(args[0]!.split(','), args[1]!.split(','));
        break;
      case 'isolate':
        need().isolate(args[0]!);
        break;
      case 'heal':
        need().heal();
        break;
      case 'crash':
        need().crash(args[0]!);
        break;
      case 'restart':
        need().restart(args[0]!);
        break;
      case 'drop':
        need().dropTypes.add(messageType(args[0]!));
        break;
      case 'undrop':
        need().dropTypes.delete(messageType(args[0]!));
        break;
      case 'transfer':
        try {
          need().node(args[0]!).raw.transferLeader(args[1]!);
        } catch (error) {
          output = `error ${(error as { code?: string }).code}`;
        }
        break;
      case 'add-learner':
      case 'add-voter':
      case 'remove': {
        const h = need();
        if (name !== 'remove' && !h.nodes.has(args[1]!)) h.addEmptyNode(args[1]!);
        output = h.confChange(args[0]!, name, args[1]!);
        break;
      }
      case 'compact':
        need().compact(args[0]!, Number(args[1]));
        break;
      case 'read':
        need().node(args[0]!).raw.readIndex(new TextEncoder().encode(args[1] ?? 'read'));
        break;
      case 'read-states': {
        const node = need().node(args[0]!);
        output = node.readStates.map((state) => `${new TextDecoder().decode(state.context)} at index ${state.index}`).join('\n') || '(none)';
        node.readStates = [];
        break;
      }
      case 'lease':
        output = String(need().node(args[0]!).raw.leaseValid());
        break;
      case 'status':
        output = need().status();
        break;
      case 'log':
        output = args.map((id) => `${id}: ${need().log(id)}`).join('\n');
        break;
      case 'values':
        output = args.map((id) => `${id}: ${need().values(id).join(' ') || '(none)'}`).join('\n');
        break;
      default:
        throw new Error(`unknown command ${name}`);
    }
    return { comments: block.comments, command: block.command, expected: output };
  });
}

function parseOptions(pairs: readonly string[]): HarnessOptions {
  const options: Record<string, unknown> = {};
  for (const pair of pairs) {
    const [key, value] = pair.split('=') as [string, string];
    switch (key) {
      case 'prevote':
        options.preVote = value === 'true';
        break;
      case 'checkquorum':
        options.checkQuorum = value === 'true';
        break;
      case 'read':
        options.readOnlyOption = value as ReadOnlyOption;
        break;
      case 'forwarding':
        options.disableProposalForwarding = value !== 'true';
        break;
      case 'max-msg-bytes':
        options.maxSizePerMessageBytes = Number(value);
        break;
      case 'promotion-lag':
        options.learnerPromotionLagMax = Number(value);
        break;
      default:
        throw new Error(`unknown cluster option ${key}`);
    }
  }
  return options as HarnessOptions;
}

function messageType(name: string): MessageType {
  const types: Record<string, MessageType> = {
    heartbeat: MessageType.Heartbeat,
    append: MessageType.Append,
    vote: MessageType.Vote,
    prevote: MessageType.PreVote,
    snapshot: MessageType.Snapshot,
  };
  const type = types[name];
  if (type === undefined) throw new Error(`unknown message type ${name}`);
  return type;
}
