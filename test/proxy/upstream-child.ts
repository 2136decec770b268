// A loopback upstream in its own process, so a test can kill -9 it. Prints `listening <port>`.
import { startUpstream } from './fixtures.ts';

const upstream = await startUpstream(process.argv[2] ?? 'child');
process.stdout.write(`listening ${upstream.port}\n`);
