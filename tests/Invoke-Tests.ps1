<#
.SYNOPSIS
    Runs the Pester suite; called by build.ps1 -Task Test in a child pwsh.
    Writes the counts to -ResultFile as JSON for the parent to report.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $MockServerPath,
    [Parameter(Mandatory)] [string] $ResultFile,
    [string] $Tag,
    [string] $ExcludeTag
)

$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force

# The test files find the built module and the mock server through these.
$env:MAILPROTOCOLS_MODULE = $ModulePath
$env:MAILPROTOCOLS_MOCKSERVER = $MockServerPath

$config = New-PesterConfiguration
$config.Run.Path = $PSScriptRoot
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.TestResult.Enabled = $true
$config.TestResult.OutputPath = [IO.Path]::ChangeExtension($ResultFile, '.xml')
if ($Tag) { $config.Filter.Tag = $Tag -split ',' }
if ($ExcludeTag) { $config.Filter.ExcludeTag = $ExcludeTag -split ',' }

$run = Invoke-Pester -Configuration $config
[pscustomobject]@{
    Passed           = $run.PassedCount
    Failed           = $run.FailedCount
    Skipped          = $run.SkippedCount
    FailedContainers = $run.FailedContainersCount + $run.FailedBlocksCount
} | ConvertTo-Json | Set-Content -Path $ResultFile
exit ([int]($run.FailedCount -gt 0))
