/**
 * The schema tests validate through the one validator production runs: the API emulator's checks
 * of Cairn's CRDs (local/apiserver/admission.ts), which `npm start` and `cairn convert` use too.
 */
export { admit, type FieldError, fieldErrors, type Verdict } from '../local/apiserver/admission.ts';
