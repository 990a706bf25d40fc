// Faultline on Azure: `azd up` provisions this, then deploys the app (azure.yaml).
// Everything is reached by the app's managed identity; no keys or connection strings.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and seeds unique resource names.')
param environmentName string

@minLength(1)
@description('Azure region for all resources (one where the Flex Consumption plan is offered).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name; default rg-<environment>.')
param resourceGroupName string = ''

@description('Principal id of whoever runs `azd up` (azd fills it in); gets Key Vault Secrets Officer so they can set the GitHub token. Empty for none.')
param principalId string = ''

@description('Kind of principal `principalId` is: User for a person, ServicePrincipal for a pipeline.')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@minLength(1)
@description('Resource ids of the Log Analytics workspaces to watch, comma-separated (they may be in other resource groups and subscriptions). The app may query each; the first one\'s workspace id becomes FAULTLINE_WORKSPACE_ID for the rules file.')
param monitoredWorkspaceResourceIds string

@description('Default repository (owner/name) for new issues; the rules file\'s routing.default_repository reads it as FAULTLINE_REPOSITORY.')
param githubRepository string

@description('Scratch repository (owner/name) for the smoke test\'s issues (azd variable FAULTLINE_SMOKE_REPOSITORY; scripts/smoke.py). Set: the app watches FaultlineSmoke_CL in its own workspace and routes what it finds there to this repository, unassigned. Empty (default): the smoke source stays off. Use a repository nothing else routes to.')
param smokeRepository string = ''

@description('GitHub REST API base URL; change for GitHub Enterprise Server (https://HOST/api/v3).')
param githubApiUrl string = 'https://api.github.com/'

@description('Name of the Key Vault secret that holds the GitHub token.')
param githubTokenSecretName string = 'github-token'

@description('GitLab REST API base URL, for routes to gitlab:group/project; change for a self-managed instance (https://HOST/api/v4).')
param gitlabApiUrl string = 'https://gitlab.com/api/v4'

@description('Name of the Key Vault secret that holds the GitLab access token (set it after deployment; see the README).')
param gitlabTokenSecretName string = 'gitlab-token'

@description('Name of the Key Vault secret with the GitLab webhook\'s secret token (set it after deployment, then enter the same value as the webhook\'s Secret token in GitLab).')
param gitlabWebhookSecretName string = 'gitlab-webhook-secret'

@description('AWS region of the CloudWatch log groups a cloudwatch source polls (empty: none).')
param awsRegion string = ''

@description('IAM role the Function App\'s managed identity assumes through AssumeRoleWithWebIdentity to read CloudWatch Logs (empty: the key pair in Key Vault, if any).')
param awsRoleArn string = ''

@description('Name of the Key Vault secret with an IAM user\'s ACCESS_KEY_ID:SECRET_ACCESS_KEY, the fallback without a role (empty: none).')
param awsKeysSecretName string = ''

@description('Name of the Key Vault secret with the key that signs issue markers; azd\'s postprovision hook (infra/hooks) creates it once and never replaces it.')
param markerKeySecretName string = 'marker-key'

@description('GitHub App ID or client ID (azd variable FAULTLINE_GITHUB_APP_ID) to authenticate as the App rather than with a token; empty for the token. Its private key goes in the Key Vault secret githubAppKeySecretName after deployment.')
param githubAppId string = ''

@description('Name of the Key Vault secret that holds the GitHub App\'s private key (PEM).')
param githubAppKeySecretName string = 'github-app-private-key'

@description('The GitHub App\'s installation per owner, owner=id,owner=id (azd variable FAULTLINE_GITHUB_APP_INSTALLATIONS); empty to look each owner\'s up.')
param githubAppInstallations string = ''

@description('Name of the Key Vault secret with a user token used only for assignment (Copilot\'s coding agent cannot be assigned by an App); empty for none.')
param githubAssignmentTokenSecretName string = ''
@description('Name of the Key Vault secret with the GitHub webhook\'s secret (set it after deployment, then enter the same value in the repository\'s webhook settings).')
param githubWebhookSecretName string = 'github-webhook-secret'

@secure()
@description('A GitHub token to store in Key Vault now; leave empty and set the secret after deployment instead (recommended: it then never passes through deployment parameters).')
param githubToken string = ''

@description('When that token expires (ISO 8601), recorded on the secret; default one year from deployment.')
param githubTokenExpiry string = dateTimeAdd(utcNow(), 'P1Y')

@description('NCRONTAB schedule of the fan-out timer (every five minutes by default).')
param timerSchedule string = '0 */5 * * * *'

@description('Log Analytics query endpoint; change only for sovereign clouds.')
param logsEndpoint string = 'https://api.loganalytics.io/v1'

@minValue(10)
@maxValue(600)
@description('Server-side timeout of each Log Analytics query, in seconds.')
param queryTimeoutSeconds int = 180

@allowed([
  512
  2048
  4096
])
@description('Memory of each Function App instance in MB; billing is per GB-second of execution.')
param instanceMemoryMB int = 2048

// Scaling out is a matter of cost, not correctness: Log Analytics' 5 concurrent queries per
// identity are kept by the query slots in Table Storage (FAULTLINE_MAX_CONCURRENT_QUERIES), however
// many instances run. 40 is accepted in every region; lower values were opened region by region
// and some regions refuse them. A waiting job costs a queue message, not a running instance.
@minValue(1)
@maxValue(1000)
@description('Most instances per function group (azd variable FAULTLINE_MAX_INSTANCES); 40 is accepted in every region, lower values only in some.')
param maximumInstanceCount int = 40

// Durable timers (an issue's hour-long waits) and new orchestrations are noticed by polling the
// task hub's queues. On a plan that scales to zero nothing polls while no instance runs, so the
// Durable documentation for Flex Consumption recommends one always-ready instance for the
// durable group and polling at most every 10 s. The instance is billed around the clock as
// baseline (about 2 GB x 2.6 million s a month at about $0.000004 per GB-s: roughly $21 a month at
// 2,048 MB, $5 at 512 MB; East US list prices), with no free grant on its executions.
@minValue(0)
@maxValue(10)
@description('Always-ready instances of the durable group (azd variable FAULTLINE_DURABLE_ALWAYS_READY, default 1; 0 scales it to zero and leaves Durable timers to the platform waking the app).')
param durableAlwaysReadyInstances int = 1

@minValue(1)
@maxValue(30)
@description('Longest idle pause between polls of the Durable task hub queues, in seconds (azd variable FAULTLINE_DURABLE_POLLING_SECONDS, default 10; Durable\'s own default is 30).')
param durableQueuePollingSeconds int = 10

@description('Optional Microsoft Entra ID authentication for the HTTP endpoints (/api/replay, /api/health and any later one), azd variable FAULTLINE_HTTP_AUTH_CLIENT_ID: the application (client) id of an app registration in this tenant that stands for the Faultline API (set its manifest\'s requestedAccessTokenVersion to 2). Empty (default): function keys only, as before. Set: App Service Authentication answers 401 to any request without a valid access token issued by this tenant for that API; the function key is still required.')
param httpAuthClientId string = ''

@description('With httpAuthClientId: token audiences to accept, comma-separated (azd variable FAULTLINE_HTTP_AUTH_AUDIENCES). Empty (default): the client id and api://<client id>.')
param httpAuthAllowedAudiences string = ''

@description('With httpAuthClientId: client application ids allowed to call (the token\'s appid/azp claim), comma-separated (azd variable FAULTLINE_HTTP_AUTH_ALLOWED_CLIENT_IDS). Empty (default): any application that can obtain a token for the API; then require assignment on its enterprise application to limit who can.')
param httpAuthAllowedClientIds string = ''

@description('Key Vault purge protection (azd variable FAULTLINE_KEY_VAULT_PURGE_PROTECTION, default true). Irreversible once on: a deleted vault cannot be purged and its name cannot be reused for the 7-day soft-delete retention, so `azd down` then `azd up` of the same environment fails until then (or until `az keyvault recover`); `azd down --purge` leaves such a vault alone. Set false only for throwaway environments, before their first `azd up`.')
param keyVaultPurgeProtection bool = true

@description('E-mail address for Faultline\'s alerts (azd variable FAULTLINE_ALERT_EMAIL): poisoned messages, query lag beyond lagAlertMinutes, failed executions. Empty (default): the alert rules are still created and fire in the portal\'s Alerts view, but no action group is created and nobody is e-mailed.')
param alertEmail string = ''

@minValue(5)
@maxValue(1440)
@description('Query lag in minutes beyond which a table alerts (azd variable FAULTLINE_LAG_ALERT_MINUTES, default 30). A query job normally finishes the ingestion delay (2 minutes in the shipped rules) plus a moment behind its window; a catch-up after an outage alerts too.')
param lagAlertMinutes int = 30

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.webSitesFunctions}faultline-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'
var workspaceIds = split(replace(monitoredWorkspaceResourceIds, ' ', ''), ',')
var smokeEnabled = !empty(smokeRepository)
var httpAuthAudiences = filter(split(replace(httpAuthAllowedAudiences, ' ', ''), ','), audience => !empty(audience))
var httpAuthClientIds = filter(split(replace(httpAuthAllowedClientIds, ' ', ''), ','), clientId => !empty(clientId))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}faultline-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    smokeRuleName: '${abbrs.insightsDataCollectionRules}faultline-smoke-${resourceToken}'
    location: location
    tags: tags
  }
}

// Faultline's own telemetry: a workbook of the metrics the code emits, and alert rules on them.
module dashboard 'app/dashboard.bicep' = {
  name: 'dashboard'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    actionGroupName: '${abbrs.insightsActionGroups}faultline-${resourceToken}'
    alertRulePrefix: 'faultline-${resourceToken}'
    alertEmail: alertEmail
    lagAlertMinutes: lagAlertMinutes
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    githubTokenSecretName: githubTokenSecretName
    githubToken: githubToken
    githubTokenExpiry: githubTokenExpiry
    enablePurgeProtection: keyVaultPurgeProtection
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    smokeRuleName: monitoring.outputs.smokeRuleName
    smokeEnabled: smokeEnabled
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

// One module per monitored workspace, deployed into that workspace's resource group:
// /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}
module workspaceReaders 'app/workspace-reader.bicep' = [for (workspaceResourceId, index) in workspaceIds: {
  name: 'workspace-reader-${index}'
  scope: resourceGroup(split(workspaceResourceId, '/')[2], split(workspaceResourceId, '/')[4])
  params: {
    workspaceName: last(split(workspaceResourceId, '/'))
    principalId: identity.outputs.principalId
  }
}]

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    durableQueuePollingSeconds: durableQueuePollingSeconds
    keyVaultUri: keyVault.outputs.uri
    githubTokenSecretName: githubTokenSecretName
    markerKeySecretName: markerKeySecretName
    githubAppId: githubAppId
    githubAppKeySecretName: githubAppKeySecretName
    githubAppInstallations: githubAppInstallations
    githubAssignmentTokenSecretName: githubAssignmentTokenSecretName
    githubWebhookSecretName: githubWebhookSecretName
    githubApiUrl: githubApiUrl
    gitlabApiUrl: gitlabApiUrl
    gitlabTokenSecretName: gitlabTokenSecretName
    gitlabWebhookSecretName: gitlabWebhookSecretName
    awsRegion: awsRegion
    awsRoleArn: awsRoleArn
    awsKeysSecretName: awsKeysSecretName
    workspaceId: workspaceReaders[0].outputs.customerId
    workspaceResourceId: workspaceIds[0]
    repository: githubRepository
    smokeEnabled: smokeEnabled
    smokeWorkspaceId: monitoring.outputs.logAnalyticsCustomerId
    // the route needs a valid repository even while the smoke source is off
    smokeRepository: smokeEnabled ? smokeRepository : githubRepository
    timerSchedule: timerSchedule
    logsEndpoint: logsEndpoint
    queryTimeoutSeconds: queryTimeoutSeconds
    httpAuthClientId: httpAuthClientId
    httpAuthAllowedAudiences: httpAuthAudiences
    httpAuthAllowedClientIds: httpAuthClientIds
  }
  // The app starts (and polls) as soon as it exists: let every role be in place first.
  dependsOn: [
    rbac
    workspaceReaders
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output AZURE_FUNCTION_URL string = 'https://${api.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output FAULTLINE_GITHUB_TOKEN_SECRET string = githubTokenSecretName
output FAULTLINE_MARKER_KEY_SECRET string = markerKeySecretName
output FAULTLINE_GITHUB_APP_KEY_SECRET string = githubAppKeySecretName
output FAULTLINE_GITHUB_WEBHOOK_SECRET_NAME string = githubWebhookSecretName
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
// For the smoke test (scripts/smoke.py reads them with `azd env get-values`).
output FAULTLINE_SMOKE_INGESTION_ENDPOINT string = monitoring.outputs.smokeIngestionEndpoint
output FAULTLINE_SMOKE_DCR_IMMUTABLE_ID string = monitoring.outputs.smokeRuleImmutableId
output FAULTLINE_SMOKE_STREAM string = monitoring.outputs.smokeStreamName
output FAULTLINE_SMOKE_TABLE string = monitoring.outputs.smokeTableName
output FAULTLINE_SMOKE_WORKSPACE_ID string = monitoring.outputs.logAnalyticsCustomerId
