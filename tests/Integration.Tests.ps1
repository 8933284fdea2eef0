# The happy paths against a real server, smtp4dev 3.15.0 (a dotnet tool of this repository),
# with STARTTLS and authentication required.
Describe 'Send-SmtpMessage against smtp4dev' -Tag Integration {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $password = 'Int3gration!'
        $server = Start-Smtp4dev -ExtraArguments @('--tlsmode=StartTls', '--authenticationrequired',
            '--smtpallowanycredentials-', "--user=alice=$password", '--pop3tlsmode=StartTls')
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force))
        # smtp4dev generates a self-signed certificate, hence -SkipCertificateCheck.
        $smtp = @{ SmtpServer = '127.0.0.1'; Port = $server.SmtpPort; UseSsl = $true; Credential = $alice; SkipCertificateCheck = $true }

        function Get-Received {
            (Invoke-RestMethod "$($server.WebUrl)/api/messages?pageSize=100").results
        }

        function Get-Raw {
            param($Message)
            (Invoke-WebRequest "$($server.WebUrl)/api/messages/$($Message.id)/raw").Content
        }
    }

    AfterAll {
        Stop-Smtp4dev $server
    }

    BeforeEach {
        Invoke-RestMethod -Method Delete "$($server.WebUrl)/api/messages/*" | Out-Null
    }

    It 'sends a message over STARTTLS with AUTH' {
        $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'admin@example.com' -Subject 'Integration: plain' -Body 'hello'
        $result.TlsProtocol | Should -Match '^Tls1[23]$'
        $received = @(Get-Received)
        $received.Count | Should -Be 1
        $received[0].subject | Should -Be 'Integration: plain'
        $received[0].to | Should -Be @('admin@example.com')
        Get-Raw $received[0] | Should -Match 'hello'
    }

    It 'sends HTML with a text alternative, an inline image and an attachment' {
        $png = Join-Path $TestDrive 'chart.png'
        [IO.File]::WriteAllBytes($png, [byte[]](0x89, 0x50, 0x4E, 0x47, 9, 9, 9))
        $file = Join-Path $TestDrive 'report.csv'
        Set-Content $file 'a,b'
        Send-SmtpMessage @smtp -From 'ops@example.com' -To 'admin@example.com' -Subject 'Integration: rich' `
            -Body 'text' -HtmlBody '<p>html</p><img src="cid:chart">' -InlineImage @{ chart = $png } -Attachments $file | Out-Null
        $parsed = ConvertFrom-RawMessage ([Text.Encoding]::UTF8.GetBytes((Get-Raw @(Get-Received)[0])))
        $parsed.TextBody.Trim() | Should -Be 'text'
        $parsed.HtmlBody | Should -Match '<p>html</p>'
        @($parsed.Attachments).FileName | Should -Be @('report.csv')
        @($parsed.BodyParts | Where-Object ContentId -EQ 'chart').Count | Should -Be 1
    }

    It 'keeps a Unicode subject intact' {
        Send-SmtpMessage @smtp -From 'ops@example.com' -To 'admin@example.com' -Subject 'Störung ✉ 障害' | Out-Null
        @(Get-Received)[0].subject | Should -Be 'Störung ✉ 障害'
    }

    It 'delivers Bcc recipients without a Bcc header' {
        Send-SmtpMessage @smtp -From 'ops@example.com' -To 'admin@example.com' -Bcc 'audit@example.com' -Subject 'Integration: bcc' | Out-Null
        $received = @(Get-Received)
        ($received.deliveredTo -split ',\s*') | Sort-Object | Should -Be @('admin@example.com', 'audit@example.com')
        Get-Raw $received[0] | Should -Not -Match 'audit@example.com'
    }

    It 'sends CSV rows as one message each over one session' {
        $rows = 1..3 | ForEach-Object { [pscustomobject]@{ To = "user$_@example.com"; Subject = "Integration row $_"; Body = "row $_" } }
        $results = $rows | Send-SmtpMessage @smtp -From 'ops@example.com'
        $results.Count | Should -Be 3
        @(Get-Received).subject | Sort-Object | Should -Be @('Integration row 1', 'Integration row 2', 'Integration row 3')
        $sessions = (Invoke-RestMethod "$($server.WebUrl)/api/sessions").results
        ($sessions | Sort-Object startDate | Select-Object -Last 1).numberOfMessages | Should -Be 3
    }

    It 'reports a wrong password as AuthenticationFailed' {
        $bad = [pscredential]::new('alice', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        { Send-SmtpMessage @smtp -Credential $bad -From 'ops@example.com' -To 'admin@example.com' -ErrorAction Stop } |
            Should -Throw -ErrorId 'AuthenticationFailed,MailProtocols.Commands.SendSmtpMessageCommand'
        @(Get-Received).Count | Should -Be 0
    }
}

Describe 'Round trip against smtp4dev: Send-SmtpMessage, Get-Pop3Message, Remove-Pop3Message' -Tag Integration {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $password = 'R0und!trip'
        $server = Start-Smtp4dev -ExtraArguments @('--tlsmode=StartTls', '--authenticationrequired',
            '--smtpallowanycredentials-', "--user=alice=$password", '--pop3tlsmode=StartTls')
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force))
        $smtp = @{ SmtpServer = '127.0.0.1'; Port = $server.SmtpPort; UseSsl = $true; Credential = $alice; SkipCertificateCheck = $true }
        # smtp4dev answers TOP with an error although CAPA lists it, so whole messages are read.
        $pop = @{ Pop3Server = '127.0.0.1'; Port = $server.Pop3Port; UseSsl = $true; Credential = $alice; SkipCertificateCheck = $true }
    }

    AfterAll {
        Stop-Smtp4dev $server
    }

    It 'sends three messages, reads them back over POP3, saves them, and deletes one' {
        $rows = 1..3 | ForEach-Object { [pscustomobject]@{ To = 'alice@example.com'; Subject = "Round trip $_"; Body = "payload $_" } }
        $sent = $rows | Send-SmtpMessage @smtp -From 'monitor@example.com'
        $sent.Count | Should -Be 3

        $messages = Get-Pop3Message @pop -IncludeBody
        $messages.Subject | Sort-Object | Should -Be @('Round trip 1', 'Round trip 2', 'Round trip 3')
        ($messages | Where-Object Subject -EQ 'Round trip 2').TextBody | Should -Match 'payload 2'
        $messages.MessageId | Sort-Object | Should -Be ($sent.MessageId | Sort-Object)

        $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'saved')
        $saved = Get-Pop3Message @pop -Destination $folder
        $saved.Count | Should -Be 3
        (Get-ChildItem $folder -Filter *.eml).Count | Should -Be 3

        Get-Pop3Message @pop -IncludeBody | Where-Object Subject -EQ 'Round trip 2' | Remove-Pop3Message @pop -Force
        (Get-Pop3Message @pop -IncludeBody).Subject | Sort-Object | Should -Be @('Round trip 1', 'Round trip 3')
    }

    It 'downloads and deletes with -Delete' {
        Send-SmtpMessage @smtp -From 'monitor@example.com' -To 'alice@example.com' -Subject 'Round trip delete' | Out-Null
        $before = @(Get-Pop3Message @pop -IncludeBody).Count
        $fetched = Get-Pop3Message @pop -Delete
        $fetched.Count | Should -Be $before
        $before | Should -BeGreaterThan 0
        @($fetched.MarkedForDeletion) | Should -Be (@($true) * $before)
        @(Get-Pop3Message @pop -IncludeBody).Count | Should -Be 0
    }
}

