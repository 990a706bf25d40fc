// The Function App on the Flex Consumption plan, running as the user-assigned identity, with
// every app setting the code reads (pipeline/settings.py; a test keeps the names in step).

@description('Name of the Function App.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to the plan and the app.')
param tags object = {}

@description('azd service name in azure.yaml; azd finds the app to deploy to by this tag.')
param serviceName string = 'api'

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (identity-based connections pick it by client id).')
param identityClientId string

@description('Blob endpoint of the app\'s storage account.')
param storageBlobEndpoint string

@description('Queue endpoint of the app\'s storage account.')
param storageQueueEndpoint string

@description('Table endpoint of the app\'s storage account.')
param storageTableEndpoint string

@description('Blob container for the deployment package.')
param deploymentContainerName string

@description('Application Insights connection string (no key is used: local auth is disabled).')
param applicationInsightsConnectionString string

@description('Memory of each instance in MB (512 MB = 0.25 vCPU, 2048 MB = 1 vCPU, 4096 MB = 2 vCPU).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances per function group; see main.bicep for why the default is 40.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Always-ready instances of the durable group (0 to scale it to zero); see main.bicep.')
@minValue(0)
@maxValue(10)
param durableAlwaysReadyInstances int = 1

@description('Longest pause, in seconds, between polls of the Durable task hub\'s queues when idle.')
@minValue(1)
@maxValue(30)
param durableQueuePollingSeconds int = 10

@description('Key Vault URI, for runtime reads of the GitHub credential.')
param keyVaultUri string

@description('Name of the Key Vault secret that holds the GitHub token.')
param githubTokenSecretName string

@description('Name of the Key Vault secret with the key that signs issue markers.')
param markerKeySecretName string

@description('GitHub App ID or client ID to authenticate as; empty to use the GitHub token instead.')
param githubAppId string

@description('Name of the Key Vault secret that holds the GitHub App\'s private key (PEM).')
param githubAppKeySecretName string

@description('The GitHub App\'s installation per owner (owner=id,owner=id); empty to look them up.')
param githubAppInstallations string

@description('Name of the Key Vault secret with a user token used only for assignment (Copilot needs one under a GitHub App); empty for none.')
param githubAssignmentTokenSecretName string
@description('Name of the Key Vault secret with the GitHub webhook\'s secret.')
param githubWebhookSecretName string

@description('GitHub REST API base URL (GitHub Enterprise Server: https://HOST/api/v3).')
param githubApiUrl string

@description('Name of the Key Vault secret that holds the GitLab access token (routes to gitlab:group/project).')
param gitlabTokenSecretName string
@description('Name of the Key Vault secret with the GitLab webhook\'s secret token.')
param gitlabWebhookSecretName string

@description('AWS region of the CloudWatch log groups (empty: no cloudwatch source).')
param awsRegion string

@description('IAM role assumed with the managed identity\'s token (AssumeRoleWithWebIdentity) to read CloudWatch Logs.')
param awsRoleArn string

@description('Name of the Key Vault secret with an AWS access key pair, the fallback without a role.')
param awsKeysSecretName string

@description('GitLab REST API base URL (self-managed: https://HOST/api/v4, or https://HOST/PATH/api/v4 under a relative URL root).')
param gitlabApiUrl string

@description('Log Analytics workspace id (GUID) of the first monitored workspace, for the rules file\'s \${FAULTLINE_WORKSPACE_ID}.')
param workspaceId string

@description('Resource id of the first monitored workspace, for the rules file\'s \${FAULTLINE_WORKSPACE_RESOURCE_ID} (the issues\' links to run their query in the portal).')
param workspaceResourceId string

@description('Default repository (owner/name), for the rules file\'s \${FAULTLINE_REPOSITORY}.')
param repository string

@description('Whether the rules file\'s faultline-smoke source is polled, for \${FAULTLINE_SMOKE_ENABLED} (on when a scratch repository is configured).')
param smokeEnabled bool = false

@description('Workspace id (GUID) of the app\'s own workspace, whose FaultlineSmoke_CL table the smoke test writes, for the rules file\'s \${FAULTLINE_SMOKE_WORKSPACE_ID}.')
param smokeWorkspaceId string

@description('Scratch repository (owner/name) for smoke-test issues, for the rules file\'s \${FAULTLINE_SMOKE_REPOSITORY}; while the smoke test is off, any valid repository (nothing is routed there).')
param smokeRepository string

@description('NCRONTAB schedule of the fan-out timer.')
param timerSchedule string

@description('Log Analytics query endpoint (another cloud\'s, for sovereign clouds).')
param logsEndpoint string

@description('Server-side timeout of each Log Analytics query, in seconds (10-600).')
@minValue(10)
@maxValue(600)
param queryTimeoutSeconds int

@description('Application (client) id of the Entra app registration that stands for the HTTP API; empty: App Service Authentication stays off and function keys alone guard the endpoints. See main.bicep.')
param httpAuthClientId string = ''

@description('Token audiences App Service Authentication accepts; empty: the client id and api://<client id>.')
param httpAuthAllowedAudiences array = []

@description('Client application ids allowed to call (the token\'s appid/azp claim); empty: any application in the tenant.')
param httpAuthAllowedClientIds array = []

// A query job holds its result in memory, about 6 MB per 1,000 rows of exceptions with stack
// traces (python -m bench.memory), and an instance runs up to three jobs at once (host.json). The
// row cap keeps three worst-case jobs well inside the instance's memory, beside the host.
var maxRowsPerQuery = instanceMemoryMB >= 4096 ? 100000 : (instanceMemoryMB >= 2048 ? 50000 : 10000)

// The durable group: orchestrations and activities (Flex Consumption's per-group scaling).
var durableAlwaysReady = [
  {
    name: 'durable'
    instanceCount: durableAlwaysReadyInstances
  }
]

// Telemetry: the host sends its own with the identity named by the authentication string; the
// code sends Faultline's metrics and use-case logs through the Azure Monitor OpenTelemetry
// distro, configured with the same identity (AzureWebJobsStorage__clientId) when the services are
// first built (bootstrap.py). PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY stays unset: the worker
// would configure the distro itself at every start, before any function runs.
var appSettings = {
  // Identity-based host storage: queues and tables for Faultline, all three for Durable and the host.
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
  // Telemetry sent with the identity (Application Insights has local auth disabled); see above.
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // Durable's idle polling of its task hub queues (host.json override; the default is 30 s).
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval: '00:00:${padLeft(string(durableQueuePollingSeconds), 2, '0')}'
  // Faultline (pipeline/settings.py).
  FAULTLINE_TIMER_SCHEDULE: timerSchedule
  FAULTLINE_QUERY_QUEUE: 'faultline-query-jobs'
  FAULTLINE_FAILURE_QUEUE: 'faultline-failures'
  FAULTLINE_ALERT_QUEUE: 'faultline-alerts'
  // Notifications (Slack, Teams, webhooks): their URLs and tokens are Key Vault secrets the rules
  // file names, read with the same identity as the GitHub token.
  FAULTLINE_NOTIFY_QUEUE: 'faultline-notifications'
  FAULTLINE_SLACK_API_URL: 'https://slack.com/api/'
  FAULTLINE_GITHUB_WEBHOOK_QUEUE: 'faultline-github-events'
  FAULTLINE_RULES_PATH: 'faultline.yaml'
  FAULTLINE_TABLE_PREFIX: 'Faultline'
  FAULTLINE_LOGS_ENDPOINT: logsEndpoint
  FAULTLINE_LOGS_EXPORT_DIR: ''
  FAULTLINE_LOGS_CA_BUNDLE: ''
  FAULTLINE_QUERY_TIMEOUT_SECONDS: string(queryTimeoutSeconds)
  FAULTLINE_MAX_ROWS_PER_QUERY: string(maxRowsPerQuery)
  FAULTLINE_MAX_THROTTLED_ATTEMPTS: '20'
  FAULTLINE_MAX_CONCURRENT_QUERIES: '3'
  FAULTLINE_QUERY_SLOT_WAIT_SECONDS: '15'
  // The GitHub token is read from Key Vault at run time (FAULTLINE_GITHUB_TOKEN stays unset here).
  FAULTLINE_KEY_VAULT_URL: keyVaultUri
  FAULTLINE_GITHUB_TOKEN_SECRET: githubTokenSecretName
  FAULTLINE_MARKER_KEY_SECRET: markerKeySecretName
  // As a GitHub App: its private key and the optional assignment token are read from Key Vault
  // at run time too (FAULTLINE_GITHUB_APP_PRIVATE_KEY and FAULTLINE_GITHUB_ASSIGNMENT_TOKEN
  // stay unset here).
  FAULTLINE_GITHUB_APP_ID: githubAppId
  FAULTLINE_GITHUB_APP_KEY_SECRET: githubAppKeySecretName
  FAULTLINE_GITHUB_APP_INSTALLATIONS: githubAppInstallations
  FAULTLINE_GITHUB_ASSIGNMENT_TOKEN_SECRET: githubAssignmentTokenSecretName
  // The webhook's secret is read from Key Vault at run time (FAULTLINE_GITHUB_WEBHOOK_SECRET stays unset).
  FAULTLINE_GITHUB_WEBHOOK_SECRET_NAME: githubWebhookSecretName
  FAULTLINE_GITHUB_API_URL: githubApiUrl
  FAULTLINE_GITHUB_CA_BUNDLE: ''
  FAULTLINE_GITHUB_TIMEOUT_SECONDS: '20'
  FAULTLINE_GITHUB_WRITE_SPACING_SECONDS: '1'
  // Routes to gitlab:group/project: the token is read from Key Vault like GitHub's.
  FAULTLINE_GITLAB_API_URL: gitlabApiUrl
  FAULTLINE_GITLAB_TOKEN_SECRET: gitlabTokenSecretName
  // GitLab's webhook token is read from Key Vault too (FAULTLINE_GITLAB_WEBHOOK_SECRET stays unset).
  FAULTLINE_GITLAB_WEBHOOK_SECRET_NAME: gitlabWebhookSecretName
  FAULTLINE_GITLAB_TIMEOUT_SECONDS: '20'
  FAULTLINE_GITLAB_CA_BUNDLE: ''
  // CloudWatch Logs (adapters/cloudwatch.py): the identity's Entra ID token is exchanged for the
  // IAM role's keys by STS; the key pair in Key Vault is the fallback without a role.
  FAULTLINE_AWS_REGION: awsRegion
  FAULTLINE_AWS_ROLE_ARN: awsRoleArn
  FAULTLINE_AWS_WEB_IDENTITY_AUDIENCE: 'api://AzureADTokenExchange'
  FAULTLINE_AWS_KEYS_SECRET: awsKeysSecretName
  FAULTLINE_AWS_STS_ENDPOINT: ''
  FAULTLINE_CLOUDWATCH_ENDPOINT: ''
  FAULTLINE_CLOUDWATCH_CA_BUNDLE: ''
  FAULTLINE_CLOUDWATCH_QUERY_WAIT_SECONDS: '120'
  FAULTLINE_ISSUE_TEMPLATE: ''
  FAULTLINE_WORKFLOW_RECHECK_SECONDS: '3600'
  FAULTLINE_NOTICE_REQUEUE_SECONDS: '60'
  FAULTLINE_DRY_RUN_DIR: ''
  // Faultline's own metrics go to Application Insights (adapters/telemetry.py); no file in Azure.
  FAULTLINE_METRICS_FILE: ''
  // Variables the shipped rules file (faultline.yaml) substitutes.
  FAULTLINE_WORKSPACE_ID: workspaceId
  FAULTLINE_WORKSPACE_RESOURCE_ID: workspaceResourceId
  FAULTLINE_REPOSITORY: repository
  FAULTLINE_SMOKE_ENABLED: smokeEnabled ? 'true' : 'false'
  FAULTLINE_SMOKE_WORKSPACE_ID: smokeWorkspaceId
  FAULTLINE_SMOKE_REPOSITORY: smokeRepository
}

// App Service Authentication (Microsoft Entra ID) in front of every HTTP endpoint, when a client id
// is given. Tokens must come from this tenant: issuer <login endpoint>/<tenant id>/v2.0.
var httpAuthEnabled = !empty(httpAuthClientId)
var httpAuthAudiences = !empty(httpAuthAllowedAudiences) ? httpAuthAllowedAudiences : [
  httpAuthClientId
  'api://${httpAuthClientId}'
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy on Flex Consumption is offered in some regions only; a poller that catches up from checkpoints after an outage does not need it.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:No virtual network in this template, so public network access stays on; the only HTTP endpoints (replay, health) require a function key, and an Entra ID token too when httpAuthClientId is set.
  // checkov:skip=CKV_AZURE_17:Callers of the replay and health endpoints authenticate with function keys (and Entra ID tokens when httpAuthClientId is set); requiring client certificates would shut operators out.
  // checkov:skip=CKV_AZURE_78:FTP is off through basicPublishingCredentialsPolicies/ftp (allow: false) below; siteConfig.ftpsState is not set because Flex Consumption refuses it in regions that enforce it (ARM error 51021).
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero per function group; a minimum instance count would bill an always-ready instance around the clock.
  // checkov:skip=CKV_AZURE_213:The platform health check would call /api/health, which requires a function key, and would keep scale-to-zero instances awake; the endpoint is for operators and probes with a key.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      appSettings: [for setting in items(appSettings): { name: setting.key, value: setting.value }]
      minTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: durableAlwaysReadyInstances > 0 ? durableAlwaysReady : []
      }
      runtime: {
        name: 'python'
        version: '3.13'
      }
    }
  }
}

// No publishing with user name and password. `azd deploy` publishes to Flex Consumption with an
// Entra ID token (POST https://<scm host>/api/publish), and the platform writes the package to the
// deployment container with the app's identity (functionAppConfig.deployment.storage above).
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

// Always declared, so clearing httpAuthClientId turns authentication off again instead of leaving
// the last configuration in place. On, it answers 401 to any request without a valid token for
// this API: /api/replay, /api/health and any later HTTP function (the function key is still
// checked after it). No excluded paths: the host's /admin API is not gated by App Service
// Authentication (its keys guard it), and Faultline serves nothing under /runtime/webhooks
// (Durable's client talks to the host over local gRPC; no Event Grid triggers). No token store
// and no client secret: the app only validates bearer tokens, it signs nobody in.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov applies its checks of the site's 'web' config to every Microsoft.Web/sites/config; the
  // properties they read do not exist on authsettingsV2, hence these skips.
  // checkov:skip=CKV_AZURE_13:Reads the retired authsettings (v1) shape (properties.enabled); authsettingsV2 switches on with properties.platform.enabled.
  // checkov:skip=CKV_AZURE_63:Reads httpLoggingEnabled of the 'web' config; not a property of authsettingsV2.
  // checkov:skip=CKV_AZURE_65:Reads detailedErrorLoggingEnabled of the 'web' config; not a property of authsettingsV2.
  // checkov:skip=CKV_AZURE_66:Reads requestTracingEnabled of the 'web' config; not a property of authsettingsV2.
  // checkov:skip=CKV_AZURE_80:Reads netFrameworkVersion of the 'web' config; not a property of authsettingsV2 (and the app is Python).
  // checkov:skip=CKV_AZURE_88:Reads azureStorageAccounts (Azure Files mounts); not a property of authsettingsV2, and Flex Consumption runs from its deployment package.
  // checkov:skip=CKV_AZURE_222:Reads publicNetworkAccess; not a property of authsettingsV2 (the site's own skip gives the reason it stays on).
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: httpAuthEnabled
      runtimeVersion: '~1'
    }
    globalValidation: {
      requireAuthentication: httpAuthEnabled
      unauthenticatedClientAction: httpAuthEnabled ? 'Return401' : 'AllowAnonymous'
      // GitHub, GitLab and the alert senders cannot send an Entra ID token; each delivery is
      // authenticated by its signature, token or secret instead (a trailing /* excludes the
      // subtree, as in the file-based configuration reference: one path per configured alert
      // webhook).
      excludedPaths: [
        '/api/github/webhook'
        '/api/gitlab/webhook'
        '/api/alerts/*'
      ]
    }
    httpSettings: {
      requireHttps: true
      routes: {
        apiPrefix: '/.auth'
      }
    }
    identityProviders: httpAuthEnabled ? {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: httpAuthClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: httpAuthAudiences
          // Only the listed client applications (appid/azp claim); no policy: any of the tenant's.
          defaultAuthorizationPolicy: empty(httpAuthAllowedClientIds) ? null : {
            allowedApplications: httpAuthAllowedClientIds
          }
        }
      }
    } : {}
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
