// A daily cost budget of one stage: a backstop that tells the owner, hours late, what the caps
// and the brake let through. It stops nothing: AWS Budgets updates only a few times a day.
import { Token } from 'aws-cdk-lib';
import { CfnBudget } from 'aws-cdk-lib/aws-budgets';
import { Construct } from 'constructs';

/** A stage's daily budget. */
export interface SignalBudgetOptions {
  /** The daily cost, in US dollars, above which the owner is e-mailed. No default. */
  readonly dailyLimitUsd: number;
}

/** Properties of a {@link SignalBudget}. */
export interface SignalBudgetProps extends SignalBudgetOptions {
  /**
   * The cost-allocation tags whose costs count (every one must match), e.g. the project's and
   * the stage's. Each must be activated once in the Billing console before it filters anything.
   */
  readonly tags: Readonly<Record<string, string>>;
  /**
   * The address told when the day's actual cost passes the limit.
   * @default - no one is told; the budget shows in the Billing console only
   */
  readonly email?: string;
  /** The budget's name, unique in the account. */
  readonly budgetName: string;
}

/**
 * An `AWS::Budgets::Budget` of type COST, daily, filtered on the given tags, e-mailing when the
 * actual cost passes the limit.
 */
export class SignalBudget extends Construct {
  /** The budget. */
  public readonly budget: CfnBudget;

  constructor(scope: Construct, id: string, props: SignalBudgetProps) {
    super(scope, id);
    const { dailyLimitUsd, tags, email, budgetName } = props;
    if (!Token.isUnresolved(dailyLimitUsd) && !(dailyLimitUsd > 0))
      throw new Error(
        `SignalBudget ${this.node.path}: dailyLimitUsd must be > 0, got ${dailyLimitUsd}`,
      );
    if (Object.keys(tags).length === 0)
      throw new Error(`SignalBudget ${this.node.path}: tags must name at least one tag`);

    const tagFilters = Object.entries(tags).map(([key, value]) => ({
      tags: { key: `user:${key}`, values: [value], matchOptions: ['EQUALS'] },
    }));
    this.budget = new CfnBudget(this, 'Budget', {
      budget: {
        budgetName,
        budgetType: 'COST',
        timeUnit: 'DAILY',
        budgetLimit: { amount: dailyLimitUsd, unit: 'USD' },
        filterExpression: tagFilters.length === 1 ? tagFilters[0] : { and: tagFilters },
      },
      notificationsWithSubscribers: email
        ? [
            {
              notification: {
                notificationType: 'ACTUAL',
                comparisonOperator: 'GREATER_THAN',
                threshold: 100,
                thresholdType: 'PERCENTAGE',
              },
              subscribers: [{ subscriptionType: 'EMAIL', address: email }],
            },
          ]
        : undefined,
    });
  }
}
