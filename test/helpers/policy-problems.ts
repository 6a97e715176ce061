import { parsePolicy } from '../../functions/domain/policy';

/** The message a policy that must be invalid is refused with; throws if it is accepted. */
export function policyProblems(doc: unknown): string {
  try {
    parsePolicy(doc);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the policy to be invalid');
}
