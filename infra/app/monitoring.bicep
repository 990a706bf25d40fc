// The app's own telemetry: a Log Analytics workspace behind Application Insights, both with local
// (key-based) authentication off, so only Entra ID identities can send or read telemetry. The app
// sends with its identity: Monitoring Metrics Publisher on Application Insights (rbac.bicep) and
// APPLICATIONINSIGHTS_AUTHENTICATION_STRING (api.bicep).

@description('Name of the Log Analytics workspace for the app\'s own telemetry.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Azure region of both resources.')
param location string

@description('Tags applied to both resources.')
param tags object = {}

@description('Days to keep the app\'s own logs.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    retentionInDays: retentionInDays
    sku: {
      name: 'PerGB2018'
    }
    features: {
      // No workspace keys: no Log Analytics agent or Data Collector API ingestion, only Entra ID.
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

output applicationInsightsId string = applicationInsights.id
output applicationInsightsName string = applicationInsights.name
output connectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsId string = logAnalytics.id
