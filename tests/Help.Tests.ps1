# Checks the help (en-US/MailProtocols.dll-Help.xml, as Get-Help reads it from the BUILT module) of
# every cmdlet the module exports: a real synopsis and description, examples with code and remarks,
# and for every parameter a description and the same mandatory / pipeline / position / alias / type
# facts as the cmdlet itself.

BeforeDiscovery {
    # The cmdlets and their parameters must be known while Pester discovers the tests, so the module
    # is imported here too, found the same way tests/common.ps1 finds it.
    $modulePath = if ($env:MAILPROTOCOLS_MODULE) { $env:MAILPROTOCOLS_MODULE } else {
        Get-ChildItem (Join-Path $PSScriptRoot '../out/MailProtocols') -Filter MailProtocols.psd1 -Recurse -ErrorAction SilentlyContinue |
            Select-Object -First 1 -ExpandProperty FullName
    }
    if (-not $modulePath) {
        throw 'The built module was not found under out/MailProtocols: run ./build.ps1 -Task Build first.'
    }

    $module = Import-Module $modulePath -Force -PassThru
    $commonParameters = @(
        'Verbose', 'Debug', 'ErrorAction', 'WarningAction', 'InformationAction', 'ProgressAction',
        'ErrorVariable', 'WarningVariable', 'InformationVariable', 'OutVariable', 'OutBuffer', 'PipelineVariable'
    )

    $cmdletCases = foreach ($cmdlet in $module.ExportedCmdlets.Values | Sort-Object Name) {
        $parameters = @($cmdlet.Parameters.Keys | Where-Object { $_ -notin $commonParameters } | Sort-Object)
        @{
            Name             = $cmdlet.Name
            CommonParameters = $commonParameters
            ParameterCases   = @(foreach ($parameter in $parameters) { @{ Command = $cmdlet.Name; Parameter = $parameter } })
        }
    }

    if (-not $cmdletCases) {
        throw "The module at $modulePath exports no cmdlet."
    }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    function Get-HelpText {
        # The text of a MAML description or remarks as Get-Help returns it (objects with a Text property).
        param($Value)
        (@($Value | ForEach-Object { if ($_ -is [string]) { $_ } else { $_.Text } }) -join "`n").Trim()
    }
}

Describe 'Help of <Name>' -ForEach $cmdletCases {
    BeforeAll {
        $cmdletInfo = Get-Command -Name $Name -CommandType Cmdlet
        $help = Get-Help -Name $Name -Full
        $helpParameters = @($help.parameters.parameter)
    }

    It 'has a synopsis written for it (not the syntax Get-Help makes up when no help exists)' {
        $synopsis = "$($help.Synopsis)".Trim()
        $synopsis | Should -Not -BeNullOrEmpty
        $synopsis | Should -Not -Match "^$([regex]::Escape($Name))(\s+[\[-]|\s*$)"
        $synopsis | Should -Not -Match '<CommonParameters>|\{\{.*\}\}'
    }

    It 'has a description' {
        $description = Get-HelpText $help.description
        $description | Should -Not -BeNullOrEmpty
        $description | Should -Not -Match '\{\{.*\}\}'
    }

    It 'has at least 3 examples, each with a title, code and remarks' {
        $examples = @($help.examples.example)
        $examples.Count | Should -BeGreaterOrEqual 3
        $i = 0
        foreach ($example in $examples) {
            $i++
            "$($example.title)".Trim('- ') | Should -Not -BeNullOrEmpty -Because "example $i needs a title"
            "$($example.code)".Trim() | Should -Not -BeNullOrEmpty -Because "example $i ($($example.title.Trim('- '))) needs code"
            Get-HelpText $example.remarks | Should -Not -BeNullOrEmpty -Because "example $i ($($example.title.Trim('- '))) needs remarks"
        }
    }

    It 'documents no parameter that the cmdlet does not have' {
        $real = @($cmdletInfo.Parameters.Keys)
        $unknown = @($helpParameters.name | Where-Object { $_ -notin $real })
        $unknown | Should -BeNullOrEmpty
    }

    Context 'parameter -<Parameter>' -ForEach $ParameterCases {
        BeforeAll {
            $metadata = $cmdletInfo.Parameters[$Parameter]
            $attributes = @($metadata.ParameterSets.Values)
            $helpParameter = $helpParameters | Where-Object name -EQ $Parameter
        }

        It 'is documented, with a description' {
            $helpParameter | Should -Not -BeNullOrEmpty -Because "Get-Help $Command -Parameter $Parameter must find it"
            Get-HelpText $helpParameter.description | Should -Not -BeNullOrEmpty
        }

        It 'is documented as mandatory exactly when it is mandatory' {
            # Mandatory in any parameter set it belongs to: e.g. -AccessToken, mandatory in its one set.
            $mandatory = $attributes.IsMandatory -contains $true
            $helpParameter | Should -Not -BeNullOrEmpty
            "$($helpParameter.required)" | Should -Be "$mandatory".ToLowerInvariant()
        }

        It 'is documented as taking pipeline input exactly as it does' {
            $byValue = $attributes.ValueFromPipeline -contains $true
            $byPropertyName = $attributes.ValueFromPipelineByPropertyName -contains $true
            $helpParameter | Should -Not -BeNullOrEmpty
            $pipelineInput = "$($helpParameter.pipelineInput)"
            if ($byValue -or $byPropertyName) {
                $pipelineInput | Should -Match '^True\b'
                $pipelineInput -match '\bByValue\b' | Should -Be $byValue -Because "pipelineInput is '$pipelineInput'"
                $pipelineInput -match '\bByPropertyName\b' | Should -Be $byPropertyName -Because "pipelineInput is '$pipelineInput'"
            }
            else {
                $pipelineInput | Should -Match '^False'
            }
        }

        It 'is documented with its position' {
            $positions = @($attributes.Position | Sort-Object -Unique |
                    ForEach-Object { if ($_ -eq [int]::MinValue) { 'named' } else { "$_" } })
            $helpParameter | Should -Not -BeNullOrEmpty
            "$($helpParameter.position)" | Should -BeIn $positions
        }

        It 'is documented with its aliases and type' {
            $helpParameter | Should -Not -BeNullOrEmpty
            $helpAliases = @("$($helpParameter.aliases)" -split '\s*,\s*' | Where-Object { $_ -and $_ -ne 'none' } | Sort-Object)
            $helpAliases -join ', ' | Should -Be (@($metadata.Aliases | Sort-Object) -join ', ')
            "$($helpParameter.type.name)" | Should -Be $metadata.ParameterType.FullName
        }
    }
}
