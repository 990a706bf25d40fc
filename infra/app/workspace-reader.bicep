// Lets the app's identity query one monitored Log Analytics workspace. Deployed into the
// workspace's own resource group (which may be in another subscription) by main.bicep.

@description('Name of the monitored Log Analytics workspace (in this module\'s resource group).')
param workspaceName string

@description('Principal id of the Function App\'s managed identity.')
param principalId string

// Log Analytics Reader: read and query every table in the workspace, and nothing else. It is the
// narrowest built-in role that allows queries (Monitoring Reader also reads the whole scope's
// monitoring settings; Contributor roles can change the workspace).
var logAnalyticsReader = '73c42c96-874c-492b-b04d-ab87d138a893'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource queryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, logAnalyticsReader)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('The workspace id that queries address (a GUID), as the rules file expects it.')
output customerId string = workspace.properties.customerId
