<?php
// This file is part of Pluto Bridge's Totara plugin local_pluto.
//
// local_pluto is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.

/**
 * Version details: web services for Totara tasks and alerts, used by Pluto Bridge.
 *
 * @package    local_pluto
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$plugin->component = 'local_pluto';
$plugin->version = 2026120600;
$plugin->requires = 2017111309.00; // Totara 13 and later report this Moodle core version.
$plugin->maturity = MATURITY_STABLE;
$plugin->release = '1.0';
$plugin->dependencies = ['totara_message' => ANY_VERSION];
