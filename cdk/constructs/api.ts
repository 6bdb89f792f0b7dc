import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { FunctionName } from '../../functions/catalog.ts';
import type { Route } from '../../functions/api/routes.ts';

/** Properties of {@link Api}. */
export interface ApiProps {
  /** The route table (`functions/api/routes.ts`). */
  readonly routes: readonly Route[];
  /** The function of each catalog name. */
  readonly functions: Record<FunctionName, lambda.IFunction>;
  /** Steady-state requests per second of the default stage. @default 50 */
  readonly throttleRateLimit?: number;
  /** Burst of the default stage. @default 100 */
  readonly throttleBurstLimit?: number;
  /**
   * Routes with a throttle of their own (route key -> limits), below the stage's. `POST /accounts`
   * needs no token: alone, it could spend the whole stage's budget.
   * @default { 'POST /accounts': { rateLimit: 1, burstLimit: 5 } }
   */
  readonly routeThrottles?: Record<string, { rateLimit: number; burstLimit: number }>;
  /** Retention of the access logs. @default logs.RetentionDays.THREE_MONTHS */
  readonly accessLogRetention?: logs.RetentionDays;
}

/**
 * The HTTP API: one route per entry of the route table, each a Lambda proxy integration with
 * payload format 2.0; a default stage with access logs (JSON) and throttling. Authentication is
 * the bearer token that each handler checks, so no API Gateway authorizer is attached.
 */
export class Api extends Construct {
  public readonly httpApi: apigw.HttpApi;
  public readonly stage: apigw.HttpStage;
  public readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    this.httpApi = new apigw.HttpApi(this, 'HttpApi', {
      apiName: `${Stack.of(this).stackName}-api`,
      description: 'Latchkey HTTP API',
      createDefaultStage: false,
    });
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit ?? 50, burstLimit: props.throttleBurstLimit ?? 100 },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogs),
        // HTTP API context variables (the REST API's standard fields include ones HTTP APIs lack).
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            protocol: '$context.protocol',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationLatencyMs: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    const throttledRoutes = new Map<string, apigw.HttpRoute>();
    for (const route of props.routes) {
      const fn = props.functions[route.function] as lambda.IFunction | undefined;
      if (fn === undefined) {
        throw new Error(`route ${route.method} ${route.path} names function "${route.function}", which is not in the catalog`);
      }
      let integration = integrations.get(route.function);
      if (integration === undefined) {
        integration = new HttpLambdaIntegration(`${route.function}-integration`, fn, {
          payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
        });
        integrations.set(route.function, integration);
      }
      const [httpRoute] = this.httpApi.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration,
      });
      if (httpRoute !== undefined) {
        throttledRoutes.set(`${route.method} ${route.path}`, httpRoute);
        Validations.of(httpRoute).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: 'Authentication is the bearer token (SHA-256 hash lookup) checked in the handler; API Gateway authorizers are not used.',
        });
      }
    }
    this.throttleRoutes(props.routeThrottles ?? { 'POST /accounts': { rateLimit: 1, burstLimit: 5 } }, throttledRoutes);
  }

  /** Route settings of the stage: each throttled route, which must exist before the stage names it. */
  private throttleRoutes(throttles: Record<string, { rateLimit: number; burstLimit: number }>, routes: Map<string, apigw.HttpRoute>) {
    // The CloudFormation property is untyped JSON: its keys as CloudFormation spells them.
    const settings: Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }> = {};
    for (const [routeKey, limits] of Object.entries(throttles)) {
      const route = routes.get(routeKey);
      if (!route) throw new Error(`route throttle for "${routeKey}": no such route in the route table`);
      settings[routeKey] = { ThrottlingRateLimit: limits.rateLimit, ThrottlingBurstLimit: limits.burstLimit };
      this.stage.node.addDependency(route);
    }
    (this.stage.node.defaultChild as apigw.CfnStage).routeSettings = settings;
  }

  /** The base URL of the default stage. */
  public get url(): string {
    return this.httpApi.apiEndpoint;
  }
}
