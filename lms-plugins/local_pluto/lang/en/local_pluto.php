<?php
// This file is part of Pluto Bridge's Totara plugin local_pluto.
//
// local_pluto is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.

/**
 * English strings.
 *
 * @package    local_pluto
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$string['pluginname'] = 'Pluto Bridge task services';
$string['privacy:metadata'] = 'The Pluto Bridge task services store no personal data; they act on Totara tasks and alerts.';
$string['alertsonlydismiss'] = 'An alert can only be dismissed.';
$string['linktask'] = 'This task must be opened in Totara to be acted on.';
$string['nohandler'] = 'This task has nothing to {$a}; it can be dismissed.';
$string['noworkflow'] = 'The workflow of this task ({$a}) is not installed on this site.';
$string['notyours'] = 'This task or alert is addressed to someone else.';
