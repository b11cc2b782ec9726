<?php
// This file is part of Pluto Bridge's Totara plugin local_pluto.
//
// local_pluto is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.

/**
 * Web-service functions and the "Pluto Bridge" service.
 *
 * The two functions are added to the mobile service (when the site has it) and to a
 * service of their own that also lists every core function the bridge calls on a Totara
 * site, so an administrator can enable one service and be done.
 *
 * @package    local_pluto
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$mobile = defined('MOODLE_OFFICIAL_MOBILE_SERVICE') ? [MOODLE_OFFICIAL_MOBILE_SERVICE] : [];

$functions = [
    'local_pluto_get_tasks' => [
        'classname' => 'local_pluto\external\get_tasks',
        'methodname' => 'execute',
        'description' => 'The calling user\'s undismissed Totara tasks or alerts, newest first, with their buttons.',
        'type' => 'read',
        'ajax' => true,
        'services' => $mobile,
    ],
    'local_pluto_task_action' => [
        'classname' => 'local_pluto\external\task_action',
        'methodname' => 'execute',
        'description' => 'Accept, reject or dismiss one of the calling user\'s Totara tasks (dismiss also alerts), '
            . 'through the task\'s own workflow, as totara/message/action.php does.',
        'type' => 'write',
        'ajax' => true,
        'services' => $mobile,
    ],
];

$services = [
    'Pluto Bridge' => [
        'shortname' => 'pluto_bridge',
        'enabled' => 0, // The administrator enables it (Site administration > Plugins > Web services).
        'restrictedusers' => 0,
        'downloadfiles' => 0,
        'uploadfiles' => 0,
        'functions' => [
            'core_webservice_get_site_info',
            'core_user_get_users_by_field',
            'core_message_get_messages',
            'core_message_send_instant_messages',
            'core_message_mark_message_read',
            'core_message_get_unread_conversations_count',
            'core_message_mark_all_notifications_as_read',
            'core_message_get_user_message_preferences',
            'local_pluto_get_tasks',
            'local_pluto_task_action',
        ],
    ],
];
