/**
 * Self time by function and by package of a `.cpuprofile`, optionally cut to a window of the monotonic clock
 * (what `bench/flashsale-subgraph.ts` prints as its measured window), as the markdown tables of bench/profiles.
 *   node bench/profile-summary.ts <file.cpuprofile> ['{"fromUs":…,"toUs":…}'] [top]
 */
import { readFileSync } from 'node:fs';
import { type CpuProfile, profileTables, summariseProfile } from './lib.ts';

const [file, window, top] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/profile-summary.ts <file.cpuprofile> [window json] [top]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const summary = summariseProfile(profile, window ? JSON.parse(window) : undefined, Number(top ?? 25));
process.stdout.write(`busy ${summary.busyMs} ms, idle ${summary.idleMs} ms\n\n${profileTables(summary).join('\n')}\n`);
