# Import-MailMessage and Save-MailAttachment on messages a real server, smtp4dev 3.15.0 (a dotnet
# tool of this repository), received and gave back as raw source: the attachment names are
# encoded by real senders, not by the mock's tests, and must still go through the safe-name rules.
Describe 'Save-MailAttachment on hostile names sent through smtp4dev' -Tag Integration {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        # No authentication required, so that System.Net.Mail can send in plain text on loopback.
        $server = Start-Smtp4dev -ExtraArguments @('--tlsmode=StartTls')
        $smtp = @{ SmtpServer = '127.0.0.1'; Port = $server.SmtpPort; UseSsl = $true; SkipCertificateCheck = $true }
        $root = Join-Path $TestDrive 'job'
        $attached = New-Item -ItemType Directory -Path (Join-Path $root 'attached')
        $inbox = New-Item -ItemType Directory -Path (Join-Path $root 'inbox')
        $out = New-Item -ItemType Directory -Path (Join-Path $root 'out')

        # Each name as the sender writes it, and the name it must be saved under. Send-SmtpMessage
        # names an attachment after its file, so each is a file of that name here (legal on Linux,
        # hostile on Windows); a name with '/' cannot be a Linux file name, so System.Net.Mail,
        # which takes any name, sends that one.
        $slash = [char]0x2215
        $cases = @(
            @{ Sent = '../../x.pdf'; Expected = 'x.pdf'; Sender = 'System.Net.Mail' }
            @{ Sent = 'C:\Windows\win.ini'; Expected = 'win.ini'; Sender = 'Send-SmtpMessage' }
            @{ Sent = '\\server\share\y.csv'; Expected = 'y.csv'; Sender = 'Send-SmtpMessage' }
            @{ Sent = 'CON.txt'; Expected = '_CON.txt'; Sender = 'Send-SmtpMessage' }
            @{ Sent = "..$slash..${slash}division.txt"; Expected = 'division.txt'; Sender = 'Send-SmtpMessage' }
            @{ Sent = '...'; Expected = 'attachment.bin'; Sender = 'Send-SmtpMessage' }
            # 215 bytes of UTF-8 (the euro sign keeps it out of Latin-1), which MimeKit sends as
            # RFC 2231 continuations (filename*0*=utf-8''...); saved cut to 180 bytes, the extension kept.
            @{ Sent = 'Bericht-' + ([string][char]0xDC * 100) + [char]0x20AC + '.csv'; Expected = 'Bericht-' + ([string][char]0xDC * 84) + '.csv'; Sender = 'Send-SmtpMessage' }
        )

        $i = 0
        foreach ($case in $cases) {
            $i++
            $case.Subject = "Hostile $i"
            $case.Bytes = [byte[]]::new(3000 + $i)
            [Random]::new($i).NextBytes($case.Bytes)
            if ($case.Sender -eq 'Send-SmtpMessage') {
                # Path.Combine and a piped FileInfo, because PowerShell paths read '\' as a separator.
                $file = [IO.Path]::Combine((New-Item -ItemType Directory -Path (Join-Path $attached $i)).FullName, $case.Sent)
                [IO.File]::WriteAllBytes($file, $case.Bytes)
                [IO.FileInfo]::new($file) | Send-SmtpMessage @smtp -From 'vendor@example.com' -To 'files@example.com' `
                    -Subject $case.Subject -Body 'The file.' -ErrorAction Stop | Out-Null
            }
            else {
                $mail = [System.Net.Mail.MailMessage]::new('vendor@example.com', 'files@example.com', $case.Subject, 'The file.')
                $attachment = [System.Net.Mail.Attachment]::new([IO.MemoryStream]::new($case.Bytes), $case.Sent, 'application/pdf')
                $attachment.ContentDisposition.FileName = $case.Sent
                $mail.Attachments.Add($attachment)
                $client = [System.Net.Mail.SmtpClient]::new('127.0.0.1', $server.SmtpPort)
                try { $client.Send($mail) } finally { $client.Dispose(); $mail.Dispose() }
            }
        }

        # Each message's raw source, as smtp4dev stored it, into an .eml file named after its subject.
        $received = (Invoke-RestMethod "$($server.WebUrl)/api/messages?pageSize=100").results
        foreach ($message in $received) {
            Invoke-WebRequest "$($server.WebUrl)/api/messages/$($message.id)/raw" -OutFile (Join-Path $inbox "$($message.subject).eml")
        }
    }

    AfterAll {
        Stop-Smtp4dev $server
    }

    It 'smtp4dev received every message, the long name in RFC 2231 continuations' {
        @(Get-ChildItem $inbox -Filter *.eml).Count | Should -Be $cases.Count
        $long = Get-Content -LiteralPath (Join-Path $inbox "$($cases[-1].Subject).eml") -Raw
        $long | Should -Match "filename\*0\*=utf-8''"
        $long | Should -Match 'filename\*1\*?='
    }

    It 'Import-MailMessage reads each back with its sender, subject and the attachment name as sent' {
        foreach ($case in $cases) {
            $message = Import-MailMessage -LiteralPath (Join-Path $inbox "$($case.Subject).eml") -ErrorAction Stop
            $message.From | Should -Match 'vendor@example\.com'
            $message.Subject | Should -BeExactly $case.Subject
            @($message.AttachmentNames) | Should -Be @($case.Sent) -Because "$($case.Sender) sent '$($case.Sent)'"
        }
    }

    It 'Save-MailAttachment -Path saves each under its safe name, inside the destination, with the bytes attached' {
        $files = @(Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out -ErrorAction Stop)

        $files.Count | Should -Be $cases.Count
        $destination = [IO.Path]::GetFullPath($out).TrimEnd('/')
        foreach ($case in $cases) {
            $file = @($files | Where-Object OriginalName -CEQ $case.Sent)
            $file.Count | Should -Be 1 -Because "'$($case.Sent)' was sent once"
            $file[0].Name | Should -BeExactly $case.Expected
            [IO.Path]::GetDirectoryName($file[0].FullName) | Should -Be $destination
            [IO.File]::ReadAllBytes($file[0].FullName) | Should -Be $case.Bytes
        }
        # Nothing anywhere else: every file under the test's folders is an attached one, an .eml or a saved one.
        foreach ($file in Get-ChildItem -LiteralPath $TestDrive -Recurse -File -Force) {
            $folder = [IO.Path]::GetDirectoryName($file.FullName)
            $folder -eq $destination -or $folder -eq $inbox.FullName -or $folder.StartsWith($attached.FullName) |
                Should -BeTrue -Because "$($file.FullName) must be in the destination"
        }
        @(Get-ChildItem -LiteralPath $out -File -Force).Count | Should -Be $cases.Count
    }
}
