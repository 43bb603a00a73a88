/** Progress of a SERAC training job (one optimisation step of one component). */
export interface TrainProgress {
  /** `scope-embedding`, `scope-cross` or `counterfactual` */
  stage: string;
  done: number;
  total: number;
  info?: Record<string, number>;
}
