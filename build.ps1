#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests and demonstrates the MailProtocols module.

.DESCRIPTION
    Run it with the PowerShell that the repository's dotnet tool manifest provides:

        dotnet tool restore
        dotnet pwsh ./build.ps1 -Task Test

    Tasks:
      Build  Compiles src/ and lays out the importable module at out/MailProtocols/<version>/.
      Test   Runs the engine's xunit tests, builds and packages the module, then runs the
             Pester tests in a child pwsh (with -Tag: only the Pester tests with those tags,
             and no xunit tests);
             the last line printed is "N passed, N failed" (both suites together), and the
             exit code is non-zero on any failure.
      Demo   Builds, starts the bundled mock mail server, sends a message with Send-SmtpMessage
             and shows what arrived, then reads and cleans the mailbox over POP3.
      Bench  Builds, then runs the benchmarks in bench/ (ratios against a peer in one run).
      Package Builds, then publishes the module with PSResourceGet to a local folder
             repository: out/repository/MailProtocols.<version>.nupkg.

.PARAMETER Task
    Build, Test, Demo, Bench or Package.

.PARAMETER Tag
    Test only: run only the tests with these tags (e.g. Integration).

.PARAMETER ExcludeTag
    Test only: skip the tests with these tags.
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Demo', 'Bench', 'Package')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    [string[]] $Tag,

    [string[]] $ExcludeTag
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$Root = $PSScriptRoot
$OutRoot = Join-Path $Root 'out'
$PesterVersion = '6.2.0'

function Invoke-Native {
    # Runs a native command and stops the build when it fails.
    param([string] $Command, [string[]] $Arguments)
    & $Command @Arguments | Out-Host
    if ($LASTEXITCODE -ne 0) {
        throw "'$Command $($Arguments -join ' ')' failed with exit code $LASTEXITCODE."
    }
}

function Get-ModuleVersion {
    (Import-PowerShellDataFile (Join-Path $Root 'MailProtocols.psd1')).ModuleVersion
}

function Invoke-Build {
    # Lays out one folder for both editions:
    #   MailProtocols.psd1/.psm1   the manifest, and the loader that picks the edition's build
    #   core/                      PowerShell 7.4+: MailProtocols.dll, help; dependencies/ is the
    #                              engine as `dotnet publish` lays it out (MailKit, MimeKit,
    #                              BouncyCastle, MailProtocols.Engine.deps.json and the runtimes/
    #                              tree of assemblies that differ by operating system), which only
    #                              the module's private load context reads
    #   desktop/                   Windows PowerShell 5.1 (.NET Framework 4.7.2): everything flat
    $version = Get-ModuleVersion
    $moduleDir = Join-Path $OutRoot "MailProtocols/$version"
    $publishRoot = Join-Path $OutRoot 'publish'
    foreach ($dir in $moduleDir, $publishRoot) {
        if (Test-Path $dir) { Remove-Item $dir -Recurse -Force }
    }

    Write-Host "Building MailProtocols $version ($Configuration)"
    $publish = {
        param([string] $Project, [string] $Framework, [string] $Output)
        Invoke-Native dotnet @('publish', (Join-Path $Root $Project), '-f', $Framework,
            '-c', $Configuration, '-o', $Output, "-p:Version=$version", '-nologo', '-v', 'quiet', '-clp:NoSummary')
    }
    foreach ($build in @{ Name = 'core'; Framework = 'net8.0' }, @{ Name = 'desktop'; Framework = 'net472' }) {
        $publishDir = Join-Path $publishRoot $build.Name
        & $publish 'src/MailProtocols/MailProtocols.csproj' $build.Framework $publishDir
        $editionDir = Join-Path $moduleDir $build.Name
        $null = New-Item -ItemType Directory -Path $editionDir -Force
        Copy-Item (Join-Path $publishDir 'MailProtocols.dll') $editionDir
        if ($build.Name -eq 'core') {
            # The engine published on its own: its deps.json then lists the engine's dependencies,
            # the file the private load context resolves them with.
            $engineDir = Join-Path $publishRoot 'engine'
            & $publish 'src/MailProtocols.Engine/MailProtocols.Engine.csproj' $build.Framework $engineDir
            $dependencies = Join-Path $editionDir 'dependencies'
            $null = New-Item -ItemType Directory -Path $dependencies
            Get-ChildItem $engineDir -Filter *.dll | Copy-Item -Destination $dependencies
            Copy-Item (Join-Path $engineDir 'MailProtocols.Engine.deps.json') $dependencies
            $runtimes = Join-Path $engineDir 'runtimes'
            if (Test-Path $runtimes) { Copy-Item $runtimes $dependencies -Recurse }
        }
        else {
            Get-ChildItem $publishDir -Filter *.dll |
                Where-Object Name -NotIn 'System.Management.Automation.dll', 'MailProtocols.dll' |
                Copy-Item -Destination $editionDir
        }
        # Cmdlet help is looked up next to the assembly that implements the cmdlets.
        $null = New-Item -ItemType Directory -Path (Join-Path $editionDir 'en-US') -Force
        Copy-Item (Join-Path $Root 'en-US/MailProtocols.dll-Help.xml') (Join-Path $editionDir 'en-US')
    }

    Copy-Item (Join-Path $Root 'MailProtocols.psd1'), (Join-Path $Root 'src/MailProtocols/MailProtocols.psm1') $moduleDir
    Copy-Item (Join-Path $Root 'src/MailProtocols/MailProtocols.format.ps1xml') $moduleDir
    $null = New-Item -ItemType Directory -Path (Join-Path $moduleDir 'en-US') -Force
    Copy-Item (Join-Path $Root 'en-US/about_MailProtocols.help.txt') (Join-Path $moduleDir 'en-US')

    Write-Host "Module laid out at $moduleDir"
    Join-Path $moduleDir 'MailProtocols.psd1'
}

function Invoke-Package {
    # Publish-PSResource needs a registered repository: a folder, under a name of its own that
    # is removed again at once.
    $modulePath = Invoke-Build
    $repository = Join-Path $OutRoot 'repository'
    if (Test-Path $repository) { Remove-Item $repository -Recurse -Force }
    $null = New-Item -ItemType Directory -Path $repository
    $name = "MailProtocolsBuild-$([guid]::NewGuid().ToString('n'))"
    Register-PSResourceRepository -Name $name -Uri $repository -Trusted
    try {
        Publish-PSResource -Path (Split-Path $modulePath) -Repository $name
    }
    finally {
        Unregister-PSResourceRepository -Name $name
    }

    $package = Get-ChildItem $repository -Filter 'MailProtocols.*.nupkg' | Select-Object -First 1
    if (-not $package) { throw "Publish-PSResource wrote no package to $repository." }
    Write-Host "Package: $($package.FullName)"
    $package.FullName
}

function Invoke-MockServerBuild {
    $dir = Join-Path $OutRoot 'MockMailServer'
    Invoke-Native dotnet @('build', (Join-Path $Root 'tests/MockMailServer/MockMailServer.csproj'),
        '-c', $Configuration, '-o', $dir, '-nologo', '-v', 'quiet', '-clp:NoSummary')
    Join-Path $dir 'MockMailServer.dll'
}

function Get-PesterManifest {
    # Pester comes from NuGet: restoring this small project downloads it into the package cache.
    Invoke-Native dotnet @('restore', (Join-Path $Root 'tests/TestTools/TestTools.csproj'), '-nologo', '-v', 'quiet', '-clp:NoSummary')
    $cache = (dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', ''
    $manifest = Join-Path $cache.Trim() "pester/$PesterVersion/tools/Pester.psd1"
    if (-not (Test-Path $manifest)) { throw "Pester $PesterVersion was not found at $manifest after restore." }
    $manifest
}

function Invoke-EngineTest {
    # The engine's C# unit tests; returns their counts, read from the TRX report.
    $resultsDir = Join-Path $OutRoot 'TestResults'
    $trx = Join-Path $resultsDir 'engine.trx'
    if (Test-Path $trx) { Remove-Item $trx }
    & dotnet test (Join-Path $Root 'tests/MailProtocols.Engine.Tests/MailProtocols.Engine.Tests.csproj') -c $Configuration `
        --nologo --logger 'trx;LogFileName=engine.trx' --results-directory $resultsDir | Out-Host
    if (-not (Test-Path $trx)) {
        return [pscustomobject]@{ Passed = 0; Failed = 1 }
    }

    $counters = ([xml](Get-Content $trx -Raw)).TestRun.ResultSummary.Counters
    [pscustomobject]@{ Passed = [int]$counters.passed; Failed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout }
}

function Invoke-Test {
    $engine = if ($Tag) { [pscustomobject]@{ Passed = 0; Failed = 0 } } else { Invoke-EngineTest }
    $package = Invoke-Package
    $modulePath = Join-Path $OutRoot "MailProtocols/$(Get-ModuleVersion)/MailProtocols.psd1"
    $mockPath = Invoke-MockServerBuild
    $pester = Get-PesterManifest
    $env:MAILPROTOCOLS_PACKAGE = $package
    $resultFile = Join-Path $OutRoot 'TestResults.json'
    if (Test-Path $resultFile) { Remove-Item $resultFile }

    # A child process, so that the dlls the tests load never block the next build.
    $childArgs = @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'tests/Invoke-Tests.ps1'),
        '-PesterPath', $pester, '-ModulePath', $modulePath, '-MockServerPath', $mockPath, '-ResultFile', $resultFile)
    if ($Tag) { $childArgs += @('-Tag', ($Tag -join ',')) }
    if ($ExcludeTag) { $childArgs += @('-ExcludeTag', ($ExcludeTag -join ',')) }
    & (Join-Path $PSHOME 'pwsh') @childArgs
    $childExit = $LASTEXITCODE

    if (-not (Test-Path $resultFile)) {
        Write-Host "The Pester run ended (exit code $childExit) without writing $resultFile."
        Write-Host "$($engine.Passed) passed, $($engine.Failed + 1) failed"
        exit 1
    }

    $result = Get-Content $resultFile -Raw | ConvertFrom-Json
    $passed = $result.Passed + $engine.Passed
    $failed = $result.Failed + $result.FailedContainers + $engine.Failed
    Write-Host "Engine (xunit): $($engine.Passed) passed, $($engine.Failed) failed. Pester: $($result.Passed) passed, $($result.Failed + $result.FailedContainers) failed."
    Write-Host "$passed passed, $failed failed"
    if ($failed -gt 0 -or $result.Passed -eq 0 -or $childExit -ne 0) { exit 1 }
}

function Invoke-Demo {
    $modulePath = Invoke-Build
    $mockPath = Invoke-MockServerBuild
    & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File (Join-Path $Root 'tests/Demo.ps1') -ModulePath $modulePath -MockServerPath $mockPath
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

function Invoke-Bench {
    $modulePath = Invoke-Build
    $mockPath = Invoke-MockServerBuild
    # The benchmarks that save thousands of files move them here rather than delete them, and
    # they are deleted after the last one: on ext4, files created within minutes of many
    # deletions cost ten times as much (bench/RealServers.ps1), which would slow the next one.
    $trash = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "mailprotocols-bench-trash-$PID") -Force
    $env:MAILPROTOCOLS_BENCH_TRASH = $trash.FullName
    $failed = 0
    try {
        foreach ($bench in Get-ChildItem (Join-Path $Root 'bench') -Filter *.ps1) {
            Write-Host "`n== $($bench.Name)"
            & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File $bench.FullName -ModulePath $modulePath -MockServerPath $mockPath
            if ($LASTEXITCODE -ne 0) { $failed = $LASTEXITCODE; break }
        }
    }
    finally {
        Remove-Item env:MAILPROTOCOLS_BENCH_TRASH
        Remove-Item $trash -Recurse -Force -ErrorAction SilentlyContinue
    }
    if ($failed) { exit $failed }
}

switch ($Task) {
    'Build' { $null = Invoke-Build }
    'Test' { Invoke-Test }
    'Demo' { Invoke-Demo }
    'Bench' { Invoke-Bench }
    'Package' { $null = Invoke-Package }
}
