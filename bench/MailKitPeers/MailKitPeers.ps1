# Dot-sourced by bench/*.ps1 (it is not a benchmark itself): builds the MailKit peer harness once
# into out/MailKitPeers and runs it, returning its JSON result as an object.

function Get-MailKitPeers {
    $project = Join-Path $PSScriptRoot 'MailKitPeers.csproj'
    $output = Join-Path $PSScriptRoot '../../out/MailKitPeers'
    $log = dotnet build $project -c Release -o $output -nologo -v quiet -clp:NoSummary
    if ($LASTEXITCODE -ne 0) { $log | Out-Host; throw "building $project failed ($LASTEXITCODE)" }
    (Resolve-Path (Join-Path $output 'MailKitPeers.dll')).Path
}

function Invoke-MailKitPeers {
    # -Harness: the path Get-MailKitPeers returned; -Arguments: see bench/MailKitPeers/Program.cs.
    param([Parameter(Mandatory)] [string] $Harness, [Parameter(Mandatory)] [string[]] $Arguments)
    $json = & dotnet $Harness @Arguments
    if ($LASTEXITCODE -ne 0) { throw "MailKitPeers $($Arguments[0]) failed ($LASTEXITCODE)" }
    $json | ConvertFrom-Json
}
