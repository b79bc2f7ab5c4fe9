/**
 * The moto server under the name the KMS tests know it by: one moto server speaks every service it
 * emulates, so the starter lives in `./moto-server`.
 */
export { startMoto as startKms, type RunningMoto as RunningKms } from './moto-server';
